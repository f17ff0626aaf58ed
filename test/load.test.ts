// callsim load on real sockets, as a user runs it: planted servers beside their healthy twins,
// started as server commands, and the built-in callsim serve. Each run is short (a few seconds a
// step); the ramp itself is the product's.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadOptions, runLoad } from '../src/load/ramp.js';
import type { LoadResult } from '../src/load/types.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'callsim-load-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let runs = 0;
function load(args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string; result: LoadResult | null }> {
  const json = path.join(tmp, `load-${(runs += 1)}.json`);
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/callsim.js', 'load', ...args, '--json', json], { timeout: timeoutMs, env }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      let result: LoadResult | null = null;
      try {
        result = JSON.parse(readFileSync(json, 'utf8')) as LoadResult;
      } catch {
        // No report: the assertions on it say so.
      }
      resolve({ code, stdout, stderr, result });
    });
  });
}

describe('callsim load', () => {
  it('finds the calls a server carries before it stalls, and says the server, not the generator, was the limit', async () => {
    // The must-show: a server that blocks its event loop 30 ms per frame above 40 live calls.
    // --retry-when-busy: on a machine other work is starving, a step is run once more (both are kept).
    const slow = await load(['--server-cmd', 'node test/servers/slow-above.mjs --slow-above 40', '--steps', '25,50,100', '--hold', '5', '--setup-timeout', '3000', '--retry-when-busy']);
    expect(slow.code, slow.stderr).toBe(0);
    const result = slow.result!;
    expect(result.capacity).toMatchObject({ calls: 25, limitedBy: 'server', firstFailure: { calls: 50, verdict: 'fail' } });
    expect(result.steps.map((s) => [s.calls, s.verdict])).toEqual([[25, 'pass'], [50, 'fail']]);
    const failed = result.steps[1]!;
    expect(failed.generator.saturated).toBe(false);
    expect(failed.generator.sendSlipMs.p99).not.toBeNull();
    expect(failed.agentAudio.gaps).toBeGreaterThan(0);
    // The server's own process tree, from /proc.
    expect(failed.server?.cpuPercent).not.toBeNull();
    expect(failed.server?.processes).toBeGreaterThan(0);
    expect(slow.stdout).toContain('capacity: 25 concurrent calls — the server missed a threshold at 50 calls, with the generator keeping its timing');

    // Its healthy twin carries the step the slow one could not.
    const twin = await load(['--server-cmd', 'node test/servers/slow-above.mjs', '--steps', '50', '--hold', '5', '--retry-when-busy']);
    expect(twin.code, twin.stderr).toBe(0);
    expect(twin.result!.capacity).toMatchObject({ calls: 50, limitedBy: 'steps' });
    expect(twin.result!.steps[0]).toMatchObject({ verdict: 'pass', droppedCalls: 0, setup: { opened: 50, failed: 0, placement: 'direct' } });
  }, 150_000);

  it("does not claim memory per call for a step after a larger one: the server still holds the heap that one grew", async () => {
    const run = await load(['--server-cmd', 'node test/servers/slow-above.mjs --slow-above 40', '--steps', '25,50', '--refine', '1', '--hold', '2', '--setup-timeout', '3000']);
    expect(run.code, run.stderr).toBe(0);
    const steps = run.result!.steps;
    expect(steps.map((s) => s.calls)).toEqual([25, 50, 40]);
    // The first step grows the heap from idle (a figure); the refinement after the larger one cannot.
    expect(steps[0]!.server?.memoryPerCallKiB).toBeGreaterThan(0);
    expect(steps[2]!.server?.rssMiB).not.toBeNull();
    expect(steps[2]!.server?.memoryPerCallKiB).toBeNull();
  }, 90_000);

  it("counts caller audio a server never gave its model, which the Twilio leg cannot see, and passes the twin that forwards all", async () => {
    // What this checks is the witness, not the machine: a step the generator was starved in still counts its frames.
    const lossy = await load(['--server-cmd', 'node test/servers/model-agent.mjs --lose-every 10', '--steps', '8', '--hold', '3']);
    const lost = lossy.result!.steps[0]!;
    expect(lost.verdict, lossy.stderr).not.toBe('pass');
    // Every 10th frame of each call: the sent frames' tenth, rounded down per call.
    expect(lost.callerFrames.lostOnModelLeg).toBeGreaterThanOrEqual(Math.floor(lost.callerFrames.sent / 10) - 8);
    expect(lost.callerFrames.lostOnModelLeg).toBeLessThanOrEqual(Math.ceil(lost.callerFrames.sent / 10));
    expect(lost.callerFrames.discarded).toBe(0);
    expect(lost.reasons.join(' ')).toMatch(/never reached the model/);

    const whole = await load(['--server-cmd', 'node test/servers/model-agent.mjs', '--steps', '8', '--hold', '3']);
    const step = whole.result!.steps[0]!;
    expect(step.verdict === 'pass' || step.generator.saturated, step.reasons.join('; ')).toBe(true);
    expect(step.reasons.join(' ')).not.toMatch(/lost/);
    expect(step.callerFrames.lostOnModelLeg).toBe(0);
    expect(step.model).toMatchObject({ sessions: 8, leftOpen: 0 });
    // The stamp in each frame, read back at the model: the server's forwarding latency.
    expect(step.forwardLatencyMs?.count).toBeGreaterThan(0);
    // The simulator ends a turn after 200 ms of silence (server_vad), then answers.
    expect(step.responseLatencyMs.p50).toBeGreaterThan(150);
    expect(step.turns.answered).toBeGreaterThan(0);
  }, 90_000);

  it("checks callsim serve's own counts of every call against the caller's", async () => {
    const html = path.join(tmp, 'load.html');
    const run = await load(['--steps', '10', '--hold', '3', '--direction', 'inbound,outbound', '--html', html]);
    expect(run.code, run.stderr).toBe(0);
    const step = run.result!.steps[0]!;
    expect(run.result!.target.serverCounts).toBe(true);
    expect(step).toMatchObject({ verdict: 'pass', setup: { opened: 10, placement: 'webhook' } });
    expect(step.callerFrames).toMatchObject({ notCountedByServer: 0, lostOnModelLeg: 0, lost: 0 });
    expect(step.agentAudio.lost).toBe(0);
    expect(step.server?.memoryPerCallKiB).not.toBeNull();
    expect(step.generator.cpuMicrosPerFrame).toBeGreaterThan(0);
    // The page: its charts as static SVG, no script, a CSP that allows nothing but its own style.
    const page = readFileSync(html, 'utf8');
    expect(page).toContain('<svg');
    expect(page).toContain('capacity: at least 10 concurrent calls');
    expect(page).not.toMatch(/<script/i);
    expect(page).toMatch(/Content-Security-Policy" content="default-src 'none'; style-src 'sha256-/);
  }, 60_000);

  it('with TWILIO_AUTH_TOKEN set, still reads the built-in server\'s counts: its GET /calls is guarded by a calls token the load gives it', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, TWILIO_AUTH_TOKEN: 'load-test-auth-token-0123456789' };
    delete env.CALLSIM_CALLS_TOKEN;
    const run = await load(['--steps', '5', '--hold', '2', '--settle', '0'], 60_000, env);
    expect(run.code, run.stderr).toBe(0);
    expect(run.result!.target.serverCounts).toBe(true);
    const step = run.result!.steps[0]!;
    expect(step).toMatchObject({ verdict: 'pass', setup: { opened: 5, placement: 'webhook' }, serverUnreportedCalls: 0 });
    expect(step.callerFrames.notCountedByServer).toBe(0);
  }, 60_000);

  it('marks a step whose generator could not keep time as the generator\'s, and claims nothing of it for the server', async () => {
    // The generator in this thread, and this thread blocked 25 ms in every 40: a slow caller, a healthy server.
    const busy = setInterval(() => {
      const until = performance.now() + 25;
      while (performance.now() < until) {
        // Busy.
      }
    }, 40);
    let result: LoadResult;
    try {
      result = await runLoad(loadOptions({ kind: 'command', command: 'node test/servers/slow-above.mjs', wsPath: '/media', readyTimeoutMs: 10_000 }, { steps: [10], holdS: 3, settleS: 1, workers: 0 }));
    } finally {
      clearInterval(busy);
    }
    expect(result.steps[0]?.verdict).toBe('generator-saturated');
    expect(result.steps[0]?.generator.saturated).toBe(true);
    expect(result.capacity).toMatchObject({ calls: null, limitedBy: 'generator' });
  }, 60_000);

  it('stops cleanly on Ctrl-C: the calls hung up, the server stopped, the steps so far reported, exit 130', async () => {
    const json = path.join(tmp, 'interrupted.json');
    // Thresholds no busy machine fails at 5 calls: this is about Ctrl-C, not about a capacity.
    const lenient = ['--max-jitter-ms', '1000', '--max-gaps', '1000', '--generator-slip-ms', '1000'];
    const child = spawn(process.execPath, ['bin/callsim.js', 'load', '--server-cmd', 'node test/servers/slow-above.mjs', '--steps', '5,10,20', '--hold', '3', ...lenient, '--json', json], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    let sent = false;
    const signalled = new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        // One Ctrl-C in the middle of the second step, once its calls are up (a second one quits at
        // once); "N streaming", whatever N: a call a busy machine failed to set up must not make
        // the run go on to its third step.
        if (!sent && /10 calls: \d+ streaming/.test(stderr)) {
          sent = child.kill('SIGINT');
          resolve();
        }
      });
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    // A run that ended before its second step streamed was never interrupted: say what it printed.
    expect(sent, stderr).toBe(true);
    await signalled;
    expect(code, stderr).toBe(130);
    const result = JSON.parse(readFileSync(json, 'utf8')) as LoadResult;
    expect(result.interrupted).toBe(true);
    expect(result.steps.map((s) => [s.calls, s.verdict])).toEqual([[5, 'pass']]);
    expect(result.capacity).toMatchObject({ calls: 5, limitedBy: 'interrupted' });
    expect(stdout).toContain('capacity: at least 5 concurrent calls (interrupted before a step failed)');
    // Nothing of the server is left: its process group was stopped.
    const ready = /ready: ws:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
    expect(ready).not.toBeNull();
    const stillThere = await fetch(`http://127.0.0.1:${ready![1]}/`).then(() => true, () => false);
    expect(stillThere).toBe(false);
  }, 60_000);

  it('a call Twilio could not set up fails the step, with the error the caller gets', async () => {
    // An explicit webhook that is not there: what Twilio does with it (11200), never a silent fallback.
    const run = await load(['--steps', '3', '--hold', '1', '--settle', '0', '--webhook-path', '/no-such-webhook']);
    const step = run.result!.steps[0]!;
    expect(step).toMatchObject({ verdict: 'fail', setup: { opened: 0, failed: 3 } });
    expect(step.setup.firstError).toMatch(/webhook: the webhook answered HTTP 404 \(error 11200/);
    expect(run.result!.capacity).toMatchObject({ calls: null, limitedBy: 'server' });
  }, 60_000);

  it('refuses bad usage with exit 2', async () => {
    const both = await load(['--url', 'ws://127.0.0.1:1/media', '--server-cmd', 'true']);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/--url or --server-cmd, not both/);
    const steps = await load(['--steps', '10,zero']);
    expect(steps.code).toBe(2);
    expect(steps.stderr).toMatch(/--steps: "zero"/);
  });
});

describe('a step run again on a busy machine', () => {
  it('waits for the server to answer again after the first run (a backlog of its calls), and not for one that is gone', async () => {
    const http = await import('node:http');
    const { waitUntilAnswering } = await import('../src/load/target.js');
    // A server whose event loop is taken by a backlog for 2.5 s: nothing it is sent is answered before.
    const busyUntil = Date.now() + 2500;
    const server = http.createServer((_req, res) => {
      setTimeout(() => res.end('ok'), Math.max(0, busyUntil - Date.now()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const origin = `http://127.0.0.1:${port}`;
    try {
      expect(await waitUntilAnswering(origin, 1000)).toBe(false);
      expect(await waitUntilAnswering(origin, 10_000)).toBe(true);
      expect(Date.now()).toBeGreaterThanOrEqual(busyUntil);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    const began = performance.now();
    expect(await waitUntilAnswering(origin, 10_000)).toBe(true);
    expect(performance.now() - began).toBeLessThan(1000);
  }, 20_000);
});
