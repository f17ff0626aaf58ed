// Log lines carry what peers sent (callSids, digits, reasons): nothing in them may start a new
// line or reach the terminal as an escape sequence.
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { printable, printableExcerpt } from '../src/text/printable.js';

const FORGED_SID = 'CA1\n2026-12-01T00:00:00.000Z INFO  call ended callSid=CA1 reason=stop';
const TERMINAL_TRICKS = '\u001b]0;pwned\u0007\u001b[2J\u202eevil';

function capture(format: 'pretty' | 'json'): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ format, write: (line) => lines.push(line) }) };
}

describe('log lines', () => {
  it('pretty: a newline or escape sequence in a field value or message stays on its one line, escaped', () => {
    const { lines, log } = capture('pretty');
    log.info('call started', { callSid: FORGED_SID, digit: TERMINAL_TRICKS, tracks: ['inbound\nforged'] });
    log.warn(`unknown event ${TERMINAL_TRICKS}`);
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      // the style may colour (ESC [ … m) but nothing the peer sent survives as a control character.
      const withoutColour = line.replace(/\u001b\[[0-9;]*m/g, '');
      expect(withoutColour).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e]/);
    }
    expect(lines[0]).toContain('callSid=CA1\\n2026-12-01T00:00:00.000Z INFO  call ended');
    expect(lines[0]).toContain('digit=\\x1b]0;pwned\\x07\\x1b[2J\\u202eevil');
  });

  it('json: every line parses back to the values sent', () => {
    const { lines, log } = capture('json');
    log.info('call started', { callSid: FORGED_SID, digit: TERMINAL_TRICKS });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'call started', callSid: FORGED_SID, digit: TERMINAL_TRICKS });
  });

  it('printable() escapes C0, DEL, C1, line separators and bidi controls, and nothing else', () => {
    expect(printable('a\tb\r\n\u0000\u007f\u0085\u2028\u2066z')).toBe('a\\tb\\r\\n\\x00\\x7f\\x85\\u2028\\u2066z');
    expect(printable('Grüße 通話 ✓')).toBe('Grüße 通話 ✓');
  });

  it('printable() also escapes the bidi marks and the noncharacters U+FFFE/U+FFFF; printableExcerpt() cuts first', () => {
    expect(printable('a\u200eb\u200fc\u061cd\ufffee\uffff')).toBe('a\\u200eb\\u200fc\\u061cd\\ufffee\\uffff');
    expect(printableExcerpt('ok', 5)).toBe('ok');
    expect(printableExcerpt('\u001b[2J'.repeat(10_000), 8)).toBe('\\x1b[2J\\…');
  });
});
