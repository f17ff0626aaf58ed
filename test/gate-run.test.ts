// What the gate hands its reporters beyond the verdicts: each call's own slice of the server's
// output, a --server-cmd whose secrets never reach a result, and a run that was interrupted or
// whose server never came up, said as such. Real server commands, started and stopped here.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { abortReason, runGate, type GateCallResult, type GateOptions } from '../src/gate/gate.js';
import { TargetError } from '../src/gate/target.js';
import { loadScenario } from '../src/scenario/load.js';
import { redactCommand } from '../src/text/redact.js';

const FIXTURE = 'fixtures/hello-8k-mulaw.wav';
const TOKEN = 'hunter2-very-secret';
const KEY = 'sk-test-0123456789abcdef';
const CHATTY = `MY_SERVICE_TOKEN=${TOKEN} OPENAI_API_KEY='${KEY}' node test/servers/chatty.mjs --port {port}`;

function gateOptions(overrides: Partial<GateOptions>): GateOptions {
  return {
    fixtures: [FIXTURE],
    directions: ['inbound', 'outbound'],
    timings: ['burst'],
    speed: 4,
    concurrency: 1,
    target: { kind: 'command', command: CHATTY, wsPath: '/media', readyTimeoutMs: 10_000 },
    expectAudio: true,
    ...overrides,
  };
}

function call(calls: GateCallResult[], direction: string): GateCallResult {
  const found = calls.find((c) => c.direction === direction);
  if (!found) throw new Error(`no ${direction} call`);
  return found;
}

function portAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('each call’s own server log lines', () => {
  it('one call at a time: the lines naming it, and the unnamed ones printed while it ran', async () => {
    const result = await runGate(gateOptions({}));
    const inbound = call(result.calls, 'inbound');
    const outbound = call(result.calls, 'outbound');
    for (const [mine, theirs] of [[inbound, outbound], [outbound, inbound]] as const) {
      const lines = mine.serverLog?.lines ?? [];
      expect(lines).toContain(`call ${mine.callSid} started (${mine.direction})`);
      expect(lines.some((l) => l.startsWith(`call ${mine.callSid} stopped after`))).toBe(true);
      expect(lines.some((l) => l.includes(theirs.callSid ?? 'none'))).toBe(false);
      expect(lines).toContain('mixer tick');
      expect(mine.serverLog).toMatchObject({ omitted: 0, shared: 0 });
    }
    expect(outbound.serverLog?.lines.some((l) => l.startsWith('TypeError: the CRM rejected token'))).toBe(true);
    expect(inbound.serverLog?.lines.some((l) => l.startsWith('TypeError'))).toBe(false);
  });

  it('two calls at once: an unnamed line belongs to both and is counted as shared', async () => {
    const result = await runGate(gateOptions({ concurrency: 2 }));
    for (const c of result.calls) {
      expect(c.serverLog?.lines).toContain(`call ${c.callSid} started (${c.direction})`);
      expect(c.serverLog?.shared).toBeGreaterThan(0);
    }
  });
});

describe('a --server-cmd with secrets in it', () => {
  it('redacts KEY=, TOKEN=, SECRET= assignments and --*-key options, keeping the rest', () => {
    const { text, values } = redactCommand(`FOO=1 MY_SERVICE_TOKEN=${TOKEN} OPENAI_API_KEY='${KEY}' db_password="a b" node s.js --api-key=xyz --token abc --token-file t.txt --port {port}`);
    expect(text).toBe(`FOO=1 MY_SERVICE_TOKEN=[redacted] OPENAI_API_KEY=[redacted] db_password=[redacted] node s.js --api-key=[redacted] --token [redacted] --token-file t.txt --port {port}`);
    expect(values).toEqual([TOKEN, KEY, 'a b', 'xyz', 'abc']);
    expect(redactCommand('PWD=/srv MONKEY=1 node server.js').text).toBe('PWD=/srv MONKEY=1 node server.js');
    expect(redactCommand('export STRIPE_SECRET=s3cr3t; env API_KEY=k node x').text).toBe('export STRIPE_SECRET=[redacted]; env API_KEY=[redacted] node x');
  });

  it('never shows them: not in the target label, the findings, nor any call’s log lines', async () => {
    const result = await runGate(gateOptions({}));
    expect(result.target).toBe("MY_SERVICE_TOKEN=[redacted] OPENAI_API_KEY=[redacted] node test/servers/chatty.mjs --port {port}");
    const outbound = call(result.calls, 'outbound');
    expect(outbound.findings.map((f) => f.message)).toContainEqual(expect.stringMatching(/^TypeError in server stdout: TypeError: the CRM rejected token \[redacted\] \(key \[redacted\]\)$/));
    const everything = JSON.stringify(result);
    expect(everything).not.toContain(TOKEN);
    expect(everything).not.toContain(KEY);
    // The crash line itself was read: the secret was there to scrub.
    expect(outbound.serverLog?.lines.join('\n')).toContain('rejected token [redacted]');
  });

  it('a server command that exits before it is ready: the error says so with the command redacted', async () => {
    const failing = runGate(gateOptions({ target: { kind: 'command', command: `API_TOKEN=${TOKEN} node -e "console.error('boom ${TOKEN}'); process.exit(3)"`, wsPath: '/media', readyTimeoutMs: 10_000 } }));
    await expect(failing).rejects.toBeInstanceOf(TargetError);
    const err = (await failing.catch((e: unknown) => e)) as TargetError;
    expect(err.message).toMatch(/^server command exited with code 3 before it was ready: API_TOKEN=\[redacted\] node -e/);
    expect(err.output).toEqual(['boom [redacted]']);
  });
});

describe('an interrupted run', () => {
  it('stops after the call in flight, stops the server, and lists the cells that never ran', async () => {
    const stop = new AbortController();
    const result = await runGate(gateOptions({ timings: ['burst', 'realtime'], signal: stop.signal, onCallDone: () => stop.abort('SIGINT') }));
    expect(result.interrupted).toBe('SIGINT');
    expect(result.verdict).toBe('fail');
    expect(result.calls).toHaveLength(1);
    expect(result.calls[0]?.verdict).toBe('pass');
    expect(result.notRun.map((c) => c.id)).toEqual(['hello-8k-mulaw.wav inbound realtime', 'hello-8k-mulaw.wav outbound burst', 'hello-8k-mulaw.wav outbound realtime']);
    // Stopped like any run: nothing it started is left, and its port is free.
    expect(result.strayProcesses).toBe(0);
    expect(result.unattributed.map((f) => f.kind)).not.toContain('server-left-running');
  });

  it('a call in flight hangs up at once and says it was interrupted', async () => {
    const stop = new AbortController();
    let began = 0;
    const onCallStart = (): void => {
      began = Date.now();
      setTimeout(() => stop.abort('SIGTERM'), 500);
    };
    // Real time at speed 1: the fixture alone takes seconds to send.
    const result = await runGate(gateOptions({ directions: ['inbound'], timings: ['realtime'], speed: 1, signal: stop.signal, onCallStart }));
    expect(Date.now() - began).toBeLessThan(3000);
    expect(result.interrupted).toBe('SIGTERM');
    expect(result.calls[0]?.findings.map((f) => f.message)).toContain('the caller hung up early (interrupted)');
  });

  it('while the server command is still starting: a TargetError at once, and nothing left running', async () => {
    const stop = new AbortController();
    const listener = net.createServer();
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as net.AddressInfo;
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    setTimeout(() => stop.abort('SIGINT'), 500);
    const began = Date.now();
    // A server that takes 20 s to come up, then listens on a port we know.
    const slow = `node -e "setTimeout(() => require('net').createServer().listen(${port}, '127.0.0.1'), 20000)"`;
    const run = runGate(gateOptions({ target: { kind: 'command', command: slow, wsPath: '/media', readyTimeoutMs: 30_000 }, signal: stop.signal }));
    const err = (await run.catch((e: unknown) => e)) as TargetError;
    expect(err).toBeInstanceOf(TargetError);
    expect(err.message).toMatch(/^interrupted while the server command was starting/);
    expect(Date.now() - began).toBeLessThan(5000);
    expect(await portAccepts(port)).toBe(false);
  });

  it('names the abort reason', () => {
    const a = new AbortController();
    a.abort('SIGINT');
    expect(abortReason(a.signal)).toBe('SIGINT');
    const b = new AbortController();
    b.abort();
    expect(abortReason(b.signal)).toBe('aborted');
  });
});

describe("a scenario against a --server-cmd handed the gate's simulator", () => {
  it('splits each response as against the built-in server: the model sessions are read from the gate\'s simulator', async () => {
    const result = await runGate(
      gateOptions({
        fixtures: [],
        scenarios: [loadScenario('fixtures/scenarios/question.yaml')],
        directions: ['inbound'],
        timings: ['realtime'],
        speed: 2,
        target: { kind: 'command', command: `${process.execPath} bin/callsim.js serve --port {port} --model-backend openai --openai-base-url {openaiBaseUrl} --log-level warn`, wsPath: '/media', readyTimeoutMs: 20_000 },
      }),
    );
    expect(result.calls.flatMap((c) => c.findings.map((f) => f.message))).toEqual([]);
    const answered = result.calls.flatMap((c) => c.turns).filter((t) => t.kind === 'turn' && t.responseMs !== null);
    expect(answered).toHaveLength(2);
    for (const turn of answered) {
      expect(turn.split).not.toBeNull();
      const { modelMs, agentMs, lineMs } = turn.split!;
      expect([modelMs, agentMs, lineMs].every((part) => part !== null && part >= 0)).toBe(true);
    }
  }, 60_000);
});
