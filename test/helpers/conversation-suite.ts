// The planted voice agents (test/agents/) against scripted callers: each conversational bug
// issue 14 names beside its healthy twin, the same gate on both, the bug the only difference.
// Scenarios run at speed 2: the bugs are about who waits for whom, which speed does not change.
import { describe, expect, it } from 'vitest';
import type { GateCallResult, GateResult } from '../../src/gate/gate.js';
import { loadScenario } from '../../src/scenario/load.js';
import { describeFindings, gateAgentScenarios, type AgentSuite } from './agents.js';

const shipped = (name: string) => loadScenario(`fixtures/scenarios/${name}.yaml`);

/** Long answers (4 s), so a barge-in or a backchannel lands mid-answer; the model streams twice real time, as the live API bursts ahead. */
const LONG_ANSWERS = { defaults: { speech: { ms: 4000 } } };
/** A 5 s answer sent in a burst (20× real time): "all sent" comes long before "all heard". */
const BURST_ANSWERS = { defaults: { speech: { ms: 5000 }, streamSpeed: 20 } };

function only(result: GateResult): GateCallResult {
  expect(result.calls).toHaveLength(1);
  return result.calls[0]!;
}

/** The twin passes every check, the scenario's included. */
function expectHealthy(result: GateResult): GateCallResult {
  const call = only(result);
  expect(call.findings, describeFindings(call)).toEqual([]);
  expect(result.verdict).toBe('pass');
  return call;
}

/** The bug fails its call, with exactly the expected finding(s) and nothing else. */
function expectOnly(result: GateResult, pattern: RegExp): GateCallResult {
  const call = only(result);
  expect(call.verdict).toBe('fail');
  expect(call.findings.length, describeFindings(call)).toBeGreaterThan(0);
  for (const finding of call.findings) expect(finding.message, describeFindings(call)).toMatch(pattern);
  return call;
}

export function conversationSuite(agent: AgentSuite): void {
  describe(`scripted callers against the ${agent.name} agent: each conversational bug and its healthy twin`, () => {
    it('slow-answer (2.5 s before each answer) fails agent_audio_within_ms: 1500; the twin answers in time', async () => {
      const [buggy, twin] = await Promise.all([gateAgentScenarios({ command: agent.command, bug: 'slow-answer' }, [shipped('question')]), gateAgentScenarios({ command: agent.command }, [shipped('question')])]);
      const slow = expectOnly(buggy, /the caller waited (\d+) ms for the agent to answer \(expected within 1500 ms\) — step \d \(say (question|goodbye)\.wav\)/);
      expect(slow.turns.every((t) => t.responseMs !== null && t.responseMs >= 2500)).toBe(true);
      // The agent never tags its model sessions with the callSid: the witness tied them, and each
      // turn's latency is split from them, the 2.5 s hold in the agent's own part.
      expect(slow.turns.every((t) => t.split !== null && t.split.modelMs !== null && t.split.agentMs !== null && t.split.agentMs >= 2400)).toBe(true);
      const healthy = expectHealthy(twin);
      expect(healthy.turns.map((t) => t.responseMs! < 1500)).toEqual([true, true]);
      expect(healthy.turns.every((t) => t.split !== null && t.split.modelMs !== null && t.split.agentMs !== null && t.split.agentMs < 1000)).toBe(true);
    }, 60_000);

    it('burst-deaf (takes "all audio sent" for "done speaking") never stops for a caller who interrupts late; the twin clears', async () => {
      const late = loadScenario('test/fixtures/scenarios/late-barge-in.yaml');
      const [buggy, twin] = await Promise.all([gateAgentScenarios({ command: agent.command, bug: 'burst-deaf' }, [late], BURST_ANSWERS), gateAgentScenarios({ command: agent.command }, [late], BURST_ANSWERS)]);
      const deaf = expectOnly(buggy, /the agent (kept talking for \d+ ms after the caller interrupted|never stopped for the caller)/);
      // It was a burst: far faster than real time, and the caller listened on long after it was all sent.
      expect(deaf.figures.burstFactor).toBeGreaterThan(5);
      expect(deaf.figures.listeningAfterSendMs).toBeGreaterThan(1500);
      const healthy = expectHealthy(twin);
      expect(healthy.figures.bargeInMs).toBeLessThan(1200);
      expect(healthy.figures.burstFactor).toBeGreaterThan(5);
    }, 60_000);

    it('stops-on-any-sound clears for a "mm-hmm" (a false yield); the twin keeps talking through it', async () => {
      const [buggy, twin] = await Promise.all([gateAgentScenarios({ command: agent.command, bug: 'stops-on-any-sound' }, [shipped('backchannel')], LONG_ANSWERS), gateAgentScenarios({ command: agent.command }, [shipped('backchannel')], LONG_ANSWERS)]);
      const yields = expectOnly(buggy, /the agent stopped for a backchannel \(a false yield\): it sent a clear \d+ ms after it began — step \d \(backchannel mm-hmm\.wav\)/);
      expect(yields.figures.falseYields).toBe(1);
      const healthy = expectHealthy(twin);
      expect(healthy.figures.falseYields).toBe(0);
    }, 60_000);

    it('ignores-dtmf never reacts to a key press; the twin answers it', async () => {
      const [buggy, twin] = await Promise.all([gateAgentScenarios({ command: agent.command, bug: 'ignores-dtmf' }, [shipped('dtmf')]), gateAgentScenarios({ command: agent.command }, [shipped('dtmf')])]);
      expectOnly(buggy, /the caller never heard an answer — no agent audio was heard after the cue before the call ended \(expected within 1500 ms\) — step 3 \(dtmf 1\)|the caller gave up at step 4 \(wait for agent audio\)|the caller hears silence — the agent never said anything/);
      const healthy = expectHealthy(twin);
      expect(healthy.turns.find((t) => t.kind === 'keys')?.responseMs).toBeLessThan(1500);
    }, 60_000);
  });
}
