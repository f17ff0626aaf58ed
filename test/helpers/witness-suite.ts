// The model-side witness against each planted agent (test/agents/): every bug of issue 13 fails
// the gate with its check named in the output, and the healthy twin passes every check, both as a
// --server-cmd target (the gate hands it its simulator) and as a --url target pointed at a
// `callsim simulator` of its own (--simulator-url).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PLACEMENT, assertBuilt, gateCli, modelProblems, modelStatuses, startAgent, startSimulatorProcess, type GateRun, type SimulatorUrls } from './witness-cli.js';

export interface PlantedBug {
  bug: string;
  /** The check that must name it. */
  check: string;
  /** The cells it shows in: the caller must interrupt an answer for a truncation, say. */
  cells: string[];
}

export const ISSUE_13_BUGS: readonly PlantedBug[] = [
  // Early media: frames arrive with start, before any model socket can be open.
  { bug: 'drop-early-audio', check: 'model-audio-in', cells: ['--direction', 'inbound', '--timing', 'early-media'] },
  { bug: 'late-session-update', check: 'model-configured-first', cells: ['--direction', 'inbound', '--timing', 'realtime'] },
  { bug: 'no-model-close', check: 'model-session-closed', cells: ['--direction', 'inbound', '--timing', 'burst'] },
  // Outbound at real time: the agent greets, the caller talks over it while the model streams ahead.
  { bug: 'stale-truncate', check: 'model-truncation', cells: ['--direction', 'outbound', '--timing', 'realtime'] },
  { bug: 'double-response', check: 'model-no-errors', cells: ['--direction', 'inbound', '--timing', 'burst'] },
];

const EXPECT_FIRST = ['--expect-first-speaker', 'inbound=caller,outbound=agent'];

function describeRun(run: GateRun): string {
  return `exit ${run.code}\n${run.stdout}\n${run.stderr}\n${run.result.calls.flatMap(modelProblems).join('\n')}`;
}

export function expectNamedFailure(run: GateRun, planted: PlantedBug): void {
  expect(run.code, describeRun(run)).toBe(1);
  expect(run.result.verdict).toBe('fail');
  expect(run.result.calls.length).toBeGreaterThan(0);
  for (const call of run.result.calls) {
    expect(modelStatuses(call)[planted.check], describeRun(run)).toBe('fail');
    expect(call.findings.map((f) => f.message).some((m) => m.startsWith(`${planted.check}: `))).toBe(true);
    expect(call.model?.correlation.method).toBe('watermark');
  }
  // The table the user reads names the check.
  expect(run.stdout).toContain(`${planted.check}: `);
}

export function expectHealthy(run: GateRun, calls: number): void {
  expect(run.result.calls.flatMap(modelProblems), describeRun(run)).toEqual([]);
  expect(run.code, describeRun(run)).toBe(0);
  expect(run.result.calls).toHaveLength(calls);
  for (const call of run.result.calls) {
    expect(call.model?.correlation.method).toBe('watermark');
    expect(Object.keys(modelStatuses(call))).toEqual(['model-session', 'model-audio-in', 'model-configured-first', 'model-session-closed', 'model-truncation', 'model-no-errors', 'model-audio-out', 'model-first-speaker']);
  }
}

export interface WitnessAgent {
  name: string;
  command: string;
  /** Bugs run against a --url target too (each a whole agent process and gate run). */
  urlBugs: readonly string[];
}

export function witnessSuite(agent: WitnessAgent): void {
  const serverCmd = (bug?: string): string[] => ['--server-cmd', `${agent.command} --port {port}${bug === undefined ? '' : ` --bug ${bug}`}`, ...AGENT_PLACEMENT];

  describe(`the model side of the ${agent.name} agent, as a --server-cmd target (the gate hands it its simulator)`, () => {
    beforeAll(assertBuilt);

    it('the healthy twin passes every model-side check in every cell, six calls at once', async () => {
      expectHealthy(await gateCli([...serverCmd(), '--concurrency', '6', ...EXPECT_FIRST]), 6);
    }, 120_000);

    for (const planted of ISSUE_13_BUGS) {
      it(`--bug ${planted.bug}: fails ${planted.check}, named in the output`, async () => {
        expectNamedFailure(await gateCli([...serverCmd(planted.bug), ...planted.cells]), planted);
      }, 90_000);
    }
  });

  describe(`the model side of the ${agent.name} agent, as a --url target pointed at a callsim simulator (--simulator-url)`, () => {
    let simulator: { urls: SimulatorUrls; stop(): Promise<void> };
    beforeAll(async () => {
      assertBuilt();
      simulator = await startSimulatorProcess();
    });
    afterAll(async () => {
      await simulator?.stop();
    });

    async function gateUrl(bug: string | undefined, cells: readonly string[]): Promise<GateRun> {
      const running = await startAgent(agent.command, simulator.urls, bug === undefined ? [] : ['--bug', bug]);
      try {
        return await gateCli(['--url', running.wsUrl, ...AGENT_PLACEMENT.slice(0, 2), '--simulator-url', simulator.urls.baseURL, ...cells]);
      } finally {
        await running.stop();
      }
    }

    it('the healthy twin passes every model-side check, read from the simulator in another process', async () => {
      expectHealthy(await gateUrl(undefined, ['--concurrency', '6', ...EXPECT_FIRST]), 6);
    }, 120_000);

    for (const planted of ISSUE_13_BUGS.filter((b) => agent.urlBugs.includes(b.bug))) {
      it(`--bug ${planted.bug}: fails ${planted.check}`, async () => {
        expectNamedFailure(await gateUrl(planted.bug, planted.cells), planted);
      }, 90_000);
    }
  });
}
