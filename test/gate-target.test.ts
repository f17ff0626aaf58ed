// The gate's server command runs in its own process group, stopped as a whole even when the
// shell that started it has gone.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startTarget, TargetError } from '../src/gate/target.js';
import { eventually } from './helpers/raw-twilio.js';

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

const waitFor = (check: () => boolean, ms: number): Promise<boolean> => eventually(check, (ok) => ok, ms);

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

  it('stops a server that left the process group (setsid) by its run token, and finds its port free', async () => {
    const pidFile = path.join(tmp, 'daemon.pid');
    const command = `setsid node ${server} & echo $! > ${pidFile}; wait`;
    const target = await startTarget({ kind: 'command', command, wsPath: '/media', readyTimeoutMs: 10_000 });
    const pid = pidOf(pidFile);
    leftovers.push(pid);
    const report = await target.stop();
    expect(await waitFor(() => gone(pid), 1000)).toBe(true);
    expect(report).toEqual({ strays: 1, portInUse: false });
  });

  it('reports a port still served after the stop by a process that shed its environment', async () => {
    const pidFile = path.join(tmp, 'escaped.pid');
    const command = `setsid env -i PORT=$PORT ${process.execPath} ${server} & echo $! > ${pidFile}; wait`;
    const target = await startTarget({ kind: 'command', command, wsPath: '/media', readyTimeoutMs: 10_000 });
    const pid = pidOf(pidFile);
    leftovers.push(pid);
    const report = await target.stop();
    expect(report).toEqual({ strays: 0, portInUse: true });
    process.kill(pid, 'SIGKILL');
  });
});

