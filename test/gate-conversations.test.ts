// The gate's conversation axis: callsim serve against the shipped scenarios on both directions
// (at twice real time, and the barge-in and backchannel ones in real time too), repeats that run
// one after another, thresholds that fail a run, baselines that flag a regression only when it is
// worse by both a percentage and a floor (and refuse other inputs before the run), and the
// artifacts a failing cell leaves behind.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import wavefile from 'wavefile';
import { checkSameInputs, compareToBaseline, contentHashOf, type Baseline, type BaselineInputs } from '../src/gate/baseline.js';
import { validateGateConfig } from '../src/gate/config.js';
import { runGate, type GateResult } from '../src/gate/gate.js';
import { loadScenario, parseScenario } from '../src/scenario/load.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'callsim-gate-conversations-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SHIPPED = readdirSync('fixtures/scenarios').sort().map((name) => loadScenario(path.join('fixtures/scenarios', name)));
const shipped = (name: string) => SHIPPED.find((s) => path.basename(s.file) === `${name}.yaml`)!;

function describeCalls(result: GateResult): string {
  return result.calls.flatMap((c) => c.findings.map((f) => `${c.id}: ${f.kind}: ${f.message}`)).concat(result.unattributed.map((f) => `run: ${f.message}`)).join('\n');
}

function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const began = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/callsim.js', ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr, ms: Date.now() - began });
    });
  });
}

describe('callsim gate with scenarios', () => {
  it('callsim serve passes every shipped scenario on both directions, within 1500 ms per response and 1200 ms per barge-in', async () => {
    const result = await runGate({ fixtures: [], scenarios: SHIPPED, directions: ['inbound', 'outbound'], timings: ['realtime'], speed: 2, concurrency: 4, target: { kind: 'builtin' }, expectAudio: true, thresholds: { responseMs: 1500, bargeInMs: 1200 } });
    expect(describeCalls(result)).toBe('');
    expect(result.verdict).toBe('pass');
    expect(result.calls).toHaveLength(SHIPPED.length * 2);
    expect(result.calls.every((c) => c.kind === 'scenario')).toBe(true);
    // The built-in server's model is the gate's to read: every answered turn has its split, and the parts add up.
    const answered = result.calls.flatMap((c) => c.turns).filter((t) => (t.kind === 'turn' || t.kind === 'keys') && t.responseMs !== null);
    expect(answered.length).toBeGreaterThanOrEqual(SHIPPED.length * 2);
    for (const turn of answered) {
      const { turnDetectionMs, modelMs, agentMs, lineMs } = turn.split!;
      expect([modelMs, agentMs, lineMs].every((part) => part !== null && part >= 0)).toBe(true);
      const sum = (turnDetectionMs ?? 0) + modelMs! + agentMs! + lineMs!;
      expect(Math.abs(sum - turn.responseMs!)).toBeLessThanOrEqual(25);
    }
    // callsim serve waits 500 ms of silence (its server_vad setting) at twice real time: 250 ms on the wall clock, then answers.
    const speech = answered.filter((t) => t.kind === 'turn');
    expect(speech.every((t) => t.split!.turnDetectionMs! >= 240 && t.split!.turnDetectionMs! < 400)).toBe(true);
    // The run's percentiles pool every turn: responses of turns and keys, reactions of barge-ins.
    const response = result.figures.find((f) => f.name === 'responseMs')!;
    expect(response.count).toBe(answered.length);
    expect(response.p50).not.toBeNull();
    expect(response.p95! >= response.p50!).toBe(true);
    const bargeIn = result.figures.find((f) => f.name === 'bargeInMs')!;
    expect(bargeIn.count).toBe(2);
    const falseYields = result.calls.filter((c) => c.cellId.startsWith('backchannel.yaml')).map((c) => c.figures.falseYields);
    expect(falseYields).toEqual([0, 0]);
  }, 90_000);

  it('and in real time, the barge-in and the backchannel', async () => {
    const result = await runGate({ fixtures: [], scenarios: [shipped('barge-in'), shipped('backchannel')], directions: ['inbound', 'outbound'], timings: ['realtime'], speed: 1, concurrency: 4, target: { kind: 'builtin' }, expectAudio: true, thresholds: { bargeInMs: 1200 } });
    expect(describeCalls(result)).toBe('');
    // serve waits for half a second of voiced talk before it yields, and then clears.
    for (const call of result.calls.filter((c) => c.cellId.startsWith('barge-in'))) {
      expect(call.figures.bargeInMs).toBeGreaterThan(500);
      expect(call.figures.bargeInMs).toBeLessThan(1200);
    }
  }, 60_000);

  it('-n/--repeat runs each cell N times, one after another (never side by side), and reports each run', async () => {
    const order: string[] = [];
    const result = await runGate({
      fixtures: [],
      scenarios: [shipped('dtmf')],
      directions: ['inbound', 'outbound'],
      timings: ['realtime'],
      speed: 2,
      concurrency: 4,
      repeat: 3,
      target: { kind: 'builtin' },
      expectAudio: true,
      onCallStart: (cell) => order.push(`start ${cell.id}`),
      onCallDone: (call) => order.push(`done ${call.id}`),
    });
    expect(result.calls.map((c) => c.id)).toEqual(['inbound', 'outbound'].flatMap((d) => [1, 2, 3].map((n) => `dtmf.yaml ${d} realtime #${n}`)));
    expect(result.repeat).toBe(3);
    for (const direction of ['inbound', 'outbound']) {
      const mine = order.filter((e) => e.includes(` ${direction} `));
      expect(mine).toEqual([1, 2, 3].flatMap((n) => [`start dtmf.yaml ${direction} realtime #${n}`, `done dtmf.yaml ${direction} realtime #${n}`]));
    }
    expect(result.figures.find((f) => f.name === 'responseMs')?.count).toBe(6);
  }, 60_000);

  it('a threshold fails each turn over it, and a run that never measured a bounded figure', async () => {
    const strict = await runGate({ fixtures: [], scenarios: [shipped('question')], directions: ['inbound'], timings: ['realtime'], speed: 2, concurrency: 1, target: { kind: 'builtin' }, expectAudio: true, thresholds: { responseMs: 5 } });
    expect(strict.verdict).toBe('fail');
    const breaches = strict.calls[0]!.findings.filter((f) => f.kind === 'threshold').map((f) => f.message);
    expect(breaches).toEqual([
      expect.stringMatching(/^response latency \d+ ms at step 3 \(say question\.wav\): over the response latency threshold of 5 ms$/),
      expect.stringMatching(/^response latency \d+ ms at step 6 \(say goodbye\.wav\): over the response latency threshold of 5 ms$/),
    ]);
    const fixturesOnly = await runGate({ fixtures: ['fixtures/hello-8k-mulaw.wav'], directions: ['inbound'], timings: ['burst'], speed: 1, concurrency: 1, target: { kind: 'builtin' }, expectAudio: true, thresholds: { bargeInMs: 1000 } });
    expect(fixturesOnly.calls[0]!.findings).toEqual([]);
    expect(fixturesOnly.verdict).toBe('fail');
    expect(fixturesOnly.unattributed.map((f) => f.message)).toEqual([expect.stringMatching(/^no call of this run measured barge-in reaction, so its threshold \(bargeInMs ≤ 1000\) cannot be met/)]);
  }, 60_000);

  it('--artifacts keeps a failing cell\'s stereo recording, hashed wire trace and server log lines; a passing cell keeps nothing', async () => {
    const demanding = parseScenario('name: demanding\nsteps:\n  - say: ../speech/question.wav\n    expect: { agent_audio_within_ms: 1 }\n  - wait_for: agent_audio\n  - wait_for: agent_silence\n', 'fixtures/scenarios/demanding.yaml');
    const dir = path.join(tmp, 'artifacts');
    const result = await runGate({ fixtures: [], scenarios: [demanding, shipped('dtmf')], directions: ['inbound'], timings: ['realtime'], speed: 2, concurrency: 2, target: { kind: 'builtin' }, expectAudio: true, artifactsDir: dir, placement: { authToken: 'a-secret-auth-token-1234' } });
    const failed = result.calls.find((c) => c.cellId.startsWith('demanding'))!;
    const passed = result.calls.find((c) => c.cellId.startsWith('dtmf'))!;
    expect(failed.verdict).toBe('fail');
    expect(passed.verdict).toBe('pass');
    expect(passed.artifacts).toBeNull();
    expect(readdirSync(dir)).toEqual(['demanding.yaml-inbound-realtime']);
    const kept = failed.artifacts!;
    expect(kept.errors).toEqual([]);
    expect(readdirSync(kept.dir).sort()).toEqual(['recording.wav', 'server.log', 'wire.jsonl']);
    const wav = new wavefile.WaveFile(readFileSync(kept.recording!));
    expect(wav.fmt).toMatchObject({ numChannels: 2, sampleRate: 8000 });
    const lines = readFileSync(kept.trace!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.leg === 'twilio' && l.dir === 'to-server' && l.event === 'media')).toBe(true);
    expect(lines.some((l) => l.leg === 'twilio' && l.dir === 'from-server' && l.event === 'media')).toBe(true);
    // The model leg, from the simulator's record of the same call, on the same clock.
    expect(lines.some((l) => l.leg === 'model' && l.event === 'response.created')).toBe(true);
    const text = readFileSync(kept.trace!, 'utf8');
    expect(text).not.toMatch(/"payload"/);
    expect(text).toMatch(/"payloadSha256":"[0-9a-f]{64}"/);
    expect(text).not.toContain('a-secret-auth-token-1234');
    const log = readFileSync(kept.serverLog!, 'utf8');
    expect(log).toContain(failed.callSid!);
  }, 60_000);

  it("a --server-cmd agent's wire trace has its model leg too: the sessions the witness tied to the call, on the caller's clock", async () => {
    const demanding = parseScenario('name: demanding\nsteps:\n  - say: ../speech/question.wav\n    expect: { agent_audio_within_ms: 1 }\n  - wait_for: agent_audio\n  - wait_for: agent_silence\n', 'fixtures/scenarios/demanding.yaml');
    const dir = path.join(tmp, 'artifacts-agent');
    const result = await runGate({
      fixtures: [],
      scenarios: [demanding],
      directions: ['inbound'],
      timings: ['realtime'],
      speed: 2,
      concurrency: 1,
      target: { kind: 'command', command: 'node test/agents/node-agent.mjs --port {port}', wsPath: '/media-stream', readyTimeoutMs: 15_000 },
      expectAudio: true,
      placement: { webhook: { path: '/incoming-call' } },
      artifactsDir: dir,
    });
    const call = result.calls[0]!;
    expect(call.verdict).toBe('fail');
    const lines = readFileSync(call.artifacts!.trace!, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const model = lines.filter((l) => l.leg === 'model');
    expect(model.map((l) => l.event)).toEqual(expect.arrayContaining(['session.opened', 'session.update', 'input_audio_buffer.committed', 'response.created', 'response.done']));
    // On one clock: the model began its answer before the agent's audio of it reached the caller.
    const t = (event: string, leg = 'model', dir?: string): number => lines.find((l) => l.leg === leg && l.event === event && (dir === undefined || l.dir === dir))!.t as number;
    expect(Number.isFinite(t('session.opened'))).toBe(true);
    expect(t('response.created')).toBeLessThan(t('media', 'twilio', 'from-server'));
  }, 60_000);
});

describe('baselines', () => {
  const inputs: BaselineInputs = { files: [{ file: 'a.yaml', sha256: 'aa' }], settings: { speed: 1 } };
  const baseline = (cells: Baseline['cells'], with_ = inputs): Baseline => ({ version: 1, contentHash: contentHashOf(with_), inputs: with_, savedAt: '', cells });
  const figure = (p50: number | null, p95: number | null = p50) => ({ p50, p95, count: 1, missing: 0 });
  const rules = { pct: 20, floorMs: 100 };

  it('a figure regresses only when worse by both the percentage and the floor', () => {
    const was = baseline({ cell: { responseMs: figure(1000), bargeInMs: figure(200) } });
    // +150 ms is +15 %: over the floor, under the percentage. +90 ms on 200 is +45 %: over the percentage, under the floor.
    expect(compareToBaseline(was, baseline({ cell: { responseMs: figure(1150), bargeInMs: figure(290) } }), rules).regressions).toEqual([]);
    const worse = compareToBaseline(was, baseline({ cell: { responseMs: figure(1300), bargeInMs: figure(200) } }), rules).regressions;
    expect(worse.map((r) => [r.cell, r.figure, r.stat])).toEqual([['cell', 'responseMs', 'p50'], ['cell', 'responseMs', 'p95']]);
    expect(worse[0]!.message).toBe('cell: responseMs p50 1000 ms → 1300 ms (+30 %): worse by more than 20 % and 100 ms');
    // Better is never a regression.
    expect(compareToBaseline(was, baseline({ cell: { responseMs: figure(400), bargeInMs: figure(100) } }), rules).regressions).toEqual([]);
  });

  it('a figure now missing (the agent never spoke) is the worst regression, never an improvement; one missing before is not compared', () => {
    const was = baseline({ cell: { responseMs: figure(500), deadAirMs: figure(null) } });
    const now = baseline({ cell: { responseMs: figure(null), deadAirMs: figure(800) } });
    const regressions = compareToBaseline(was, now, rules).regressions;
    expect(regressions.map((r) => [r.figure, r.stat, r.now])).toEqual([['responseMs', 'p50', null], ['responseMs', 'p95', null]]);
    expect(regressions[0]!.message).toMatch(/was 500 ms, now never measured \(the agent never spoke\): the worst regression/);
  });

  it('counts regress by one; cells of one run and not the other are said, not judged', () => {
    const was = baseline({ a: { falseYields: figure(0) }, gone: { responseMs: figure(1) } });
    const { regressions, notes } = compareToBaseline(was, baseline({ a: { falseYields: figure(1) }, fresh: { responseMs: figure(1) } }), rules);
    expect(regressions.map((r) => r.figure)).toEqual(['falseYields', 'falseYields']);
    expect(notes).toEqual(['fresh: not in the baseline', 'gone: in the baseline, not run this time']);
  });

  it('a baseline made from other inputs or settings is refused, saying what changed', () => {
    const was = baseline({});
    expect(() => checkSameInputs(was, { ...inputs, settings: { speed: 2 } })).toThrow(/made from other inputs or settings .*changed settings speed/);
    expect(() => checkSameInputs(was, { ...inputs, files: [{ file: 'a.yaml', sha256: 'bb' }] })).toThrow(/changed files a\.yaml/);
    expect(() => checkSameInputs(was, inputs)).not.toThrow();
  });

  it('as a CLI: --save-baseline, then --baseline passes the same run, fails a doctored baseline as a regression, and refuses other settings before any call', async () => {
    const file = path.join(tmp, 'baseline.json');
    const args = ['gate', '--scenarios', 'fixtures/scenarios/dtmf.yaml', '--direction', 'inbound', '--timing', 'realtime', '--speed', '2'];
    const saved = await runCli([...args, '--save-baseline', file]);
    expect(saved.code).toBe(0);
    const baseline = JSON.parse(readFileSync(file, 'utf8')) as Baseline;
    expect(Object.keys(baseline.cells)).toEqual(['dtmf.yaml inbound realtime']);
    expect(baseline.cells['dtmf.yaml inbound realtime']!.responseMs?.p50).toBeGreaterThanOrEqual(0);
    const again = await runCli([...args, '--baseline', file, '--regression-floor-ms', '5000']);
    expect(again.code).toBe(0);
    // Doctored: the baseline says the agent answered in no time and nothing ever went missing.
    const doctored = path.join(tmp, 'doctored.json');
    const cell = baseline.cells['dtmf.yaml inbound realtime']!;
    writeFileSync(doctored, JSON.stringify({ ...baseline, cells: { 'dtmf.yaml inbound realtime': { ...cell, firstHeardMs: { p50: 0, p95: 0, count: 1, missing: 0 } } } }));
    const regressed = await runCli([...args, '--baseline', doctored, '--regression-floor-ms', '1']);
    expect(regressed.code).toBe(1);
    expect(regressed.stdout).toMatch(/regression against the baseline: dtmf\.yaml inbound realtime: firstHeardMs p50 0 ms → \d+ ms: worse by more than 20 % and 1 ms/);
    const other = await runCli([...args.slice(0, -1), '3', '--baseline', file]);
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/the baseline was made from other inputs or settings .*changed settings speed: save a new one with --save-baseline/);
    expect(other.ms).toBeLessThan(5000);
    expect(existsSync(file)).toBe(true);
  }, 90_000);
});

describe('the config file', () => {
  it('takes scenarios, repeat, thresholds, the bad line and the baseline; an unknown threshold is named with the known ones', () => {
    expect(validateGateConfig('c.json', { gate: { scenarios: ['fixtures/scenarios'], repeat: 3, thresholds: { responseMs: 1500, bargeInMs: 1200 }, latencyMs: 80, jitterMs: 20, packetLoss: 0.02, seed: 7, artifacts: 'out', baseline: 'b.json' } })).toMatchObject({ repeat: 3, thresholds: { responseMs: 1500 } });
    expect(() => validateGateConfig('c.json', { gate: { thresholds: { responseMS: 1 } } })).toThrow(/c\.json: unknown key gate\.thresholds\.responseMS \(known: firstAudioMs, firstHeardMs, responseMs, bargeInMs/);
    expect(() => validateGateConfig('c.json', { gate: { packetLoss: 1 } })).toThrow(/gate\.packetLoss must be a rate from 0 up to \(not including\) 1/);
    expect(() => validateGateConfig('c.json', { gate: { repeat: 0 } })).toThrow(/gate\.repeat must be a whole number from 1 to 1000/);
  });
});
