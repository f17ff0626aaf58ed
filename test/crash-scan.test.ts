// The crash scan on real server output (which lines become crash hits, and which hits are one
// crash), and the server command's process group, stopped even when its shell has gone.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LogCollector } from '../src/gate/crash-scan.js';
import { startTarget, TargetError } from '../src/gate/target.js';

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

/** Gone, or a zombie nobody has reaped yet (it runs no more code either). */
function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

async function waitFor(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

describe.skipIf(process.platform === 'win32')('server command process group', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'callsim-target-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const server = path.join(tmp, 'server.cjs');
  writeFileSync(
    server,
    "const port = Number(process.env.PORT); if (port) require('node:http').createServer((q, r) => r.end()).listen(port, '127.0.0.1'); setInterval(() => {}, 1000);\n",
  );
  const stubborn = path.join(tmp, 'stubborn.cjs');
  writeFileSync(
    stubborn,
    "require('node:http').createServer((q, r) => r.end()).listen(Number(process.env.PORT), '127.0.0.1'); process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);\n",
  );
  const pidOf = (file: string): number => Number(readFileSync(file, 'utf8').trim());
  const leftovers: number[] = [];
  afterAll(() => {
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
  });

  it('stops what the shell started in the background when the shell exits before the server is ready', async () => {
    const pidFile = path.join(tmp, 'early.pid');
    // Not listening on PORT: never ready; the shell exits at once.
    const command = `PORT= node ${server} & echo $! > ${pidFile}; exit 3`;
    const started = startTarget({ kind: 'command', command, wsPath: '/media', readyTimeoutMs: 10_000 });
    await expect(started).rejects.toThrow(TargetError);
    await expect(started).rejects.toThrow(/exited with code 3 before it was ready/);
    const pid = pidOf(pidFile);
    leftovers.push(pid);
    expect(await waitFor(() => gone(pid), 1000)).toBe(true);
  });

  it('stops a server whose shell exited while it kept serving', async () => {
    const pidFile = path.join(tmp, 'mid.pid');
    const command = `node ${server} & echo $! > ${pidFile}; sleep 1; exit 0`;
    const target = await startTarget({ kind: 'command', command, wsPath: '/media', readyTimeoutMs: 10_000 });
    const pid = pidOf(pidFile);
    leftovers.push(pid);
    expect(await waitFor(() => target.exit() !== null, 5000)).toBe(true);
    expect(target.exit()).toBe('exited with code 0');
    expect(gone(pid)).toBe(false);
    await target.stop();
    expect(await waitFor(() => gone(pid), 1000)).toBe(true);
  });

  it('kills a server that ignores SIGTERM after its shell has exited', async () => {
    const pidFile = path.join(tmp, 'stubborn.pid');
    const command = `node ${stubborn} & echo $! > ${pidFile}; sleep 1; exit 0`;
    const target = await startTarget({ kind: 'command', command, wsPath: '/media', readyTimeoutMs: 10_000 });
    const pid = pidOf(pidFile);
    leftovers.push(pid);
    expect(await waitFor(() => target.exit() !== null, 5000)).toBe(true);
    await target.stop(); // SIGTERM, then SIGKILL 3 s later
    expect(await waitFor(() => gone(pid), 1000)).toBe(true);
  });
});
