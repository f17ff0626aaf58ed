// Scenario files: read through the yaml package, checked against one zod schema before any
// socket opens, every problem with its file:line:col; the JSON Schema published in schemas/ is
// generated from the same schema; the shipped scenarios all load.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { mulawFramesToWav } from '../src/audio/wav.js';
import { loadScenario, parseScenario, ScenarioError } from '../src/scenario/load.js';
import { scenarioJsonSchema } from '../src/scenario/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'callsim-scenario-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Problems parsing `text` as a scenario file in the test's folder (clips are looked up from the repo root). */
function problems(text: string): string[] {
  try {
    parseScenario(text, 'fixtures/scenarios/test.yaml');
  } catch (err) {
    if (err instanceof ScenarioError) return err.problems;
    throw err;
  }
  return [];
}

describe('scenario files', () => {
  it('a valid file resolves its clips relative to itself and its steps into what the caller runs', () => {
    const scenario = parseScenario(
      ['name: example', 'steps:', '  - say: ../speech/question.wav', '    expect: { agent_audio_within_ms: 1500 }', '  - backchannel: ../speech/mm-hmm.wav', '    after_ms: 300', '    expect:', '      agent_keeps_talking: true', '  - wait: 0.5', '  - wait_for: agent_silence', '    quiet_ms: 600', '  - dtmf: "1#"', '  - hangup'].join('\n'),
      'fixtures/scenarios/example.yaml',
    );
    expect(scenario.steps.map((s) => [s.number, s.kind, s.label])).toEqual([
      [1, 'say', 'say question.wav'],
      [2, 'say', 'backchannel mm-hmm.wav'],
      [3, 'wait', 'wait 0.5 s'],
      [4, 'wait_for', 'wait for agent silence'],
      [5, 'dtmf', 'dtmf 1#'],
      [6, 'hangup', 'hang up'],
    ]);
    const say = scenario.steps[0]!;
    const mmhmm = scenario.steps[1]!;
    if (say.kind !== 'say' || mmhmm.kind !== 'say') throw new Error('not says');
    // The clip's words: its first and last voiced frames, without the lead-in and tail.
    expect(say.clip.firstVoiced).toBeLessThan(5);
    expect(say.clip.lastVoiced).toBeGreaterThan(say.clip.firstVoiced + 40);
    expect(say.clip.lastVoiced).toBeLessThan(say.clip.audio.frames.length - 5);
    expect(mmhmm.overAgent).toEqual({ afterMs: 300, timeoutMs: 10_000 });
    expect(mmhmm.backchannel).toBe(true);
    expect(scenario.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each([
    ['not YAML at all', 'name: x\nsteps: [\n', /^fixtures\/scenarios\/test\.yaml:\d+:\d+: /],
    ['a step of no known kind', 'name: x\nsteps:\n  - shout: hello.wav\n', /test\.yaml:3:5: steps\.0: a step says what the caller does: one of say, backchannel, wait, wait_for, dtmf, hangup/],
    ['a step of two kinds', 'name: x\nsteps:\n  - say: ../speech/question.wav\n    wait: 1\n', /test\.yaml:3:5: steps\.0: a step does one thing: it has both say and wait/],
    ['a misspelt key', 'name: x\nsteps:\n  - say: ../speech/question.wav\n    expect: { agent_audio_within: 100 }\n', /test\.yaml:4:15: steps\.0\.expect\.agent_audio_within: unknown key agent_audio_within/],
    ['bad keys', 'name: x\nsteps:\n  - dtmf: "12x"\n', /test\.yaml:3:11: steps\.0\.dtmf: DTMF digits are 0-9, \* and #/],
    ['a barge-in expectation on a plain say', 'name: x\nsteps:\n  - say: ../speech/question.wav\n    expect:\n      clear_within_ms: 500\n', /test\.yaml:5:24: steps\.0\.expect\.clear_within_ms: clear_within_ms needs the caller to talk over the agent/],
    ['after_ms without talking over the agent', 'name: x\nsteps:\n  - say: ../speech/question.wav\n    after_ms: 500\n', /test\.yaml:4:15: steps\.0\.after_ms: talking over the agent needs while_agent_speaks: true/],
    ['a clip that is not there', 'name: x\nsteps:\n  - say: nowhere.wav\n', /test\.yaml:3:10: steps\.0\.say: nowhere\.wav: file not found/],
    ['an expectation after hanging up', 'name: x\nsteps:\n  - hangup: true\n    expect: { no_agent_audio_for_ms: 100 }\n', /steps\.0\.expect\.no_agent_audio_for_ms: nothing can be expected of the agent after the caller has hung up/],
    ['no name', 'steps:\n  - wait: 1\n', /test\.yaml:1:1: name: /],
    ['no steps', 'name: x\nsteps: []\n', /steps: a scenario needs a list of at least one step/],
    ['a negative wait', 'name: x\nsteps:\n  - wait: -1\n', /test\.yaml:3:11: steps\.0\.wait: /],
    ['an unknown top-level key', 'name: x\nturns: []\nsteps:\n  - wait: 1\n', /test\.yaml:2:1: turns: unknown key turns/],
  ])('%s: refused, with where and why', (_what, text, message) => {
    const found = problems(text);
    expect(found.length).toBeGreaterThan(0);
    expect(found.join('\n')).toMatch(message);
  });

  it('every problem of a file is said at once', () => {
    const found = problems('name: x\nsteps:\n  - shout: a\n  - dtmf: "x"\n  - say: nowhere.wav\n');
    expect(found).toHaveLength(3);
  });

  it('a silent clip is refused: the caller would say nothing', () => {
    const silent = join(dir, 'silent.wav');
    writeFileSync(silent, mulawFramesToWav(Buffer.alloc(8000, 0xff)));
    writeFileSync(join(dir, 'silent.yaml'), 'name: x\nsteps:\n  - say: silent.wav\n');
    expect(() => loadScenario(join(dir, 'silent.yaml'))).toThrow(/silent\.wav: the clip is silent/);
  });

  it('the shipped scenarios all load, and the JSON Schema in schemas/ is the one the zod schema generates', () => {
    for (const file of readdirSync('fixtures/scenarios')) expect(() => loadScenario(join('fixtures/scenarios', file))).not.toThrow();
    const published = JSON.parse(readFileSync('schemas/scenario.schema.json', 'utf8')) as unknown;
    expect(published).toEqual(scenarioJsonSchema());
  });

  it('callsim replay --scenario with a broken file exits 2 with its problems, before any socket opens', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    let connections = 0;
    wss.on('connection', () => (connections += 1));
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, 'name: x\nsteps:\n  - say: nowhere.wav\n  - dtmf: "z"\n');
    const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/media`;
    const result = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(process.execPath, ['bin/callsim.js', 'replay', '--url', url, '--scenario', broken], (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }));
    });
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/broken\.yaml:3:10: steps\.0\.say: nowhere\.wav: file not found/);
    expect(result.stderr).toMatch(/broken\.yaml:4:11: steps\.1\.dtmf: DTMF digits/);
    expect(connections).toBe(0);
  });
});
