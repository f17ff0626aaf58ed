// The crash scan on real server output: which lines become crash hits, and which hits are one
// crash.
import { describe, expect, it } from 'vitest';
import { LogCollector, MAX_CRASH_HITS, MAX_CRASH_HITS_PER_SOURCE, MAX_LINE_CHARS } from '../src/gate/crash-scan.js';

function collect(stream: 'stdout' | 'stderr', text: string): LogCollector {
  const logs = new LogCollector();
  logs.write(stream, text);
  logs.end();
  return logs;
}

function summary(logs: LogCollector): Array<{ signature: string; line: string; detail: string | null }> {
  return logs.hits.map((h) => ({ signature: h.signature, line: h.line.text, detail: h.detail?.text ?? null }));
}

describe('crash scan', () => {
  it('preceding(): the lines printed just before a hit on either stream, nearest first (a "call X failed" on stdout before a traceback on stderr)', () => {
    const logs = new LogCollector();
    logs.write('stdout', 'incoming call CA0000000000000000000000000000000b (inbound)\n');
    logs.write('stdout', 'call CA0000000000000000000000000000000a failed\n');
    logs.write('stderr', ['Traceback (most recent call last):', '  File "agent.py", line 9, in on_media', "TypeError: 'NoneType' object is not subscriptable", ''].join('\n'));
    logs.end();
    const [hit] = logs.hits;
    expect(hit?.signature).toBe('TypeError');
    // context() stays on the hit's own stream; preceding() crosses to the other one.
    expect(logs.context(hit!, 3, 0)).toEqual(['Traceback (most recent call last):']);
    expect(logs.preceding(hit!, 3)).toEqual(['call CA0000000000000000000000000000000a failed', 'incoming call CA0000000000000000000000000000000b (inbound)']);
    // Lines printed long before are not "just before".
    expect(logs.preceding(hit!, 3, -1)).toEqual([]);
  });

  it("keeps two Node errors printed back to back (console.error(err) of two calls) as two hits", () => {
    const logs = collect(
      'stderr',
      [
        "TypeError: Cannot read properties of undefined (reading 'push') [call CA0000000000000000000000000000000a]",
        '    at Call.onMedia (file:///srv/app/server.mjs:41:23)',
        '    at WebSocket.<anonymous> (file:///srv/app/server.mjs:88:12)',
        '    at WebSocket.emit (node:events:519:28)',
        "TypeError: Cannot read properties of undefined (reading 'push') [call CA0000000000000000000000000000000b]",
        '    at Call.onMedia (file:///srv/app/server.mjs:41:23)',
        '    at WebSocket.<anonymous> (file:///srv/app/server.mjs:88:12)',
        '',
      ].join('\n'),
    );
    expect(summary(logs)).toEqual([
      { signature: 'TypeError', line: expect.stringContaining('CA0000000000000000000000000000000a'), detail: null },
      { signature: 'TypeError', line: expect.stringContaining('CA0000000000000000000000000000000b'), detail: null },
    ]);
    // Each call's headline is its own error line.
    expect(logs.context(logs.hits[1]!, 0, 0)).toEqual([expect.stringContaining('CA0000000000000000000000000000000b')]);
  });

  it('folds a Python traceback (header, frames, exception line) into one hit named by the exception', () => {
    const logs = collect(
      'stderr',
      [
        'ERROR:server:call CA0000000000000000000000000000000c failed',
        'Traceback (most recent call last):',
        '  File "/srv/app/server.py", line 57, in handle',
        '    await call.on_media(message)',
        '  File "/srv/app/server.py", line 31, in on_media',
        '    self.greeting_marks.append(mark)',
        '    ^^^^^^^^^^^^^^^^^^^',
        "AttributeError: 'Call' object has no attribute 'greeting_marks'",
        'INFO:server:call CA0000000000000000000000000000000d started',
        '',
      ].join('\n'),
    );
    expect(summary(logs)).toEqual([
      {
        signature: 'AttributeError',
        line: 'Traceback (most recent call last):',
        detail: "AttributeError: 'Call' object has no attribute 'greeting_marks'",
      },
    ]);
  });

  it('keeps a frame line that names an error inside the traceback, not as the exception', () => {
    const logs = collect(
      'stderr',
      [
        'Traceback (most recent call last):',
        '  File "/srv/app/server.py", line 12, in lookup',
        '    raise KeyError(stream_sid)',
        "KeyError: 'MZ0000000000000000000000000000000e'",
        '',
      ].join('\n'),
    );
    expect(summary(logs)).toEqual([
      { signature: 'KeyError', line: 'Traceback (most recent call last):', detail: "KeyError: 'MZ0000000000000000000000000000000e'" },
    ]);
  });

  it('starts a new hit for an error after a finished traceback', () => {
    const logs = collect(
      'stderr',
      [
        'Traceback (most recent call last):',
        '  File "/srv/app/server.py", line 31, in on_media',
        '    self.greeting_marks.append(mark)',
        "AttributeError: 'Call' object has no attribute 'greeting_marks'",
        'Traceback (most recent call last):',
        '  File "/srv/app/server.py", line 12, in lookup',
        '    return calls[sid]',
        "KeyError: 'CA0000000000000000000000000000000f'",
        '',
      ].join('\n'),
    );
    expect(summary(logs).map((h) => [h.signature, h.detail])).toEqual([
      ['AttributeError', "AttributeError: 'Call' object has no attribute 'greeting_marks'"],
      ['KeyError', "KeyError: 'CA0000000000000000000000000000000f'"],
    ]);
  });

  it('makes each NaN line its own hit, consecutive or not', () => {
    const logs = collect(
      'stdout',
      ['call CA00000000000000000000000000000010 audioOutChunks=NaN', 'call CA00000000000000000000000000000011 audioOutChunks=NaN', ''].join('\n'),
    );
    expect(summary(logs)).toEqual([
      { signature: 'NaN counter', line: 'call CA00000000000000000000000000000010 audioOutChunks=NaN', detail: null },
      { signature: 'NaN counter', line: 'call CA00000000000000000000000000000011 audioOutChunks=NaN', detail: null },
    ]);
  });

  it('joins a traceback across chunks and ignores the other stream in between', () => {
    const logs = new LogCollector();
    logs.write('stderr', 'Traceback (most recent call last):\n  File "/srv/app/server.py", line 31, in on_');
    logs.write('stdout', 'INFO: still serving other calls\n');
    logs.write('stderr', 'media\n    self.greeting_marks.append(mark)\nAttributeError: no greeting_marks\n');
    expect(summary(logs)).toEqual([
      { signature: 'AttributeError', line: 'Traceback (most recent call last):', detail: 'AttributeError: no greeting_marks' },
    ]);
  });

  it('keeps at most MAX_LINE_CHARS of a line that never ends, and says how much it cut', () => {
    const logs = new LogCollector();
    const chunk = 'x'.repeat(64 * 1024);
    // 64 MB without a newline, as a server printing a binary blob or a runaway progress line would.
    for (let i = 0; i < 1024; i++) logs.write('stdout', chunk);
    logs.write('stdout', "\nTypeError: Cannot read properties of undefined (reading 'push')\n");
    const [long, crash] = logs.lines;
    const cut = 64 * 1024 * 1024 - MAX_LINE_CHARS;
    expect(long?.text).toBe(`${'x'.repeat(MAX_LINE_CHARS)} [... ${cut} more characters cut]`);
    expect(logs.longLines).toBe(1);
    expect(logs.charsCut).toBe(cut);
    expect(crash?.text).toBe("TypeError: Cannot read properties of undefined (reading 'push')");
    expect(summary(logs).map((h) => h.signature)).toEqual(['TypeError']);
  });

  it('takes each redraw of a \\r progress bar as a line, and \\r\\n as one line end', () => {
    const logs = new LogCollector();
    for (let i = 1; i <= 100; i++) logs.write('stderr', `downloading model ${i}%\r`);
    logs.write('stderr', 'done\r\nready on port 8080\r');
    logs.write('stderr', '\nTypeError: boom\r\n');
    expect(logs.lines.map((l) => l.text)).toEqual([
      ...Array.from({ length: 100 }, (_, i) => `downloading model ${i + 1}%`),
      'done',
      'ready on port 8080',
      'TypeError: boom',
    ]);
    expect(logs.longLines).toBe(0);
  });

  it("keeps a bounded number of one call's flood of crash lines, and still the other call's crash", () => {
    const logs = new LogCollector();
    const flooding = 'CA' + 'a'.repeat(32);
    const other = 'CA' + 'b'.repeat(32);
    const lines = Array.from({ length: 1000 }, (_, i) => `TypeError: flood ${i} [call ${flooding}]`).join('\n') + '\n';
    for (let i = 0; i < 300; i++) logs.write('stderr', lines);
    logs.write('stderr', `call ${other} failed\nTypeError: Cannot read properties of undefined (reading 'marks')\n`);
    expect(logs.hits).toHaveLength(MAX_CRASH_HITS_PER_SOURCE + 1);
    expect(logs.droppedHits).toBe(300_000 - MAX_CRASH_HITS_PER_SOURCE);
    expect(logs.hits.at(-1)?.line.text).toBe("TypeError: Cannot read properties of undefined (reading 'marks')");
    // Context still finds each kept hit's own line, and the kept lines stay bounded.
    expect(logs.context(logs.hits.at(-1)!, 1, 0)).toEqual([`call ${other} failed`, "TypeError: Cannot read properties of undefined (reading 'marks')"]);
    expect(logs.lines.length).toBeLessThanOrEqual(50_000);
  });

  it('keeps at most MAX_CRASH_HITS crash hits in all', () => {
    const logs = new LogCollector();
    let text = '';
    for (let i = 0; i < MAX_CRASH_HITS + 500; i++) text += `TypeError: call CA${i.toString(16).padStart(32, '0')} broke\n`;
    logs.write('stderr', text);
    expect(logs.hits).toHaveLength(MAX_CRASH_HITS);
    expect(logs.droppedHits).toBe(500);
  });
});

