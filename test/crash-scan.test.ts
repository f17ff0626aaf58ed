// The crash scan on real server output: which lines become crash hits, and which hits are one
// crash.
import { describe, expect, it } from 'vitest';
import { LogCollector } from '../src/gate/crash-scan.js';

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
});
