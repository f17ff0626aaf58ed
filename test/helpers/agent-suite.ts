// The same gate runs against each planted agent (Node, Python): its outbound-counter bug and its
// healthy twin, through the webhook as Twilio calls; the same agent in direct mode; and with
// signature checks on, gated with and without the auth token.
import { describe, expect, it } from 'vitest';
import { describeFindings, gateAgent, type AgentSuite } from './agents.js';

const TOKEN = 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6';

export function agentSuite(agent: AgentSuite): void {
  describe(`callsim gate against the ${agent.name} agent (webhook → TwiML → stream, as Twilio calls)`, () => {
    it('outbound-counter: fails exactly the outbound calls, naming the crash; the healthy twin passes every cell', async () => {
      const [buggy, twin] = await Promise.all([gateAgent({ command: agent.command, bug: 'outbound-counter' }), gateAgent({ command: agent.command })]);
      expect(buggy.calls).toHaveLength(6);
      for (const call of buggy.calls) {
        expect(call.placement).toBe('webhook');
        if (call.direction === 'inbound') {
          expect([call.id, call.findings]).toEqual([call.id, []]);
          continue;
        }
        expect(call.verdict).toBe('fail');
        const crash = call.findings.find((f) => f.kind === 'crash-signature');
        expect(crash, describeFindings(call)).toBeDefined();
        expect(describeFindings(call)).toMatch(agent.crash);
        expect(call.findings.some((f) => /application error/.test(f.message))).toBe(true);
      }
      // No crash line is left unblamed; a burst into a crashing agent can print more of them than
      // the gate keeps per call, and that count is all that may stand on its own.
      expect(buggy.unattributed.filter((f) => !/^\d+ more crash lines in the server's output were counted but not kept/.test(f.message))).toEqual([]);
      expect(buggy.verdict).toBe('fail');

      expect(twin.calls.map((c) => [c.id, c.findings])).toEqual(twin.calls.map((c) => [c.id, []]));
      expect(twin.calls.every((c) => c.framesReceived > 0)).toBe(true);
      expect(twin.verdict).toBe('pass');
    }, 60_000);

    it('in direct mode the same bug hides: the outbound path never runs, and the gate says the direction was only a label', async () => {
      const result = await gateAgent({ command: agent.command, bug: 'outbound-counter', timings: ['burst'], placement: { webhook: null } });
      expect(result.calls.map((c) => [c.direction, c.placement, c.verdict])).toEqual([
        ['inbound', 'direct', 'pass'],
        ['outbound', 'direct', 'pass'],
      ]);
      expect(result.notes.join('\n')).toMatch(/2 of 2 calls ran in direct mode \(no webhook step\): the direction only labels them/);
    }, 60_000);

    it('with signature checks on: passes when the gate signs with the auth token, every call is a 403 without it', async () => {
      const [signed, unsigned] = await Promise.all([
        gateAgent({ command: agent.command, agentToken: TOKEN, timings: ['burst'], placement: { webhook: { path: '/incoming-call' }, authToken: TOKEN } }),
        gateAgent({ command: agent.command, agentToken: TOKEN, timings: ['burst'], placement: { webhook: { path: '/incoming-call' } } }),
      ]);
      expect(signed.calls.map((c) => [c.id, c.findings])).toEqual(signed.calls.map((c) => [c.id, []]));
      expect(unsigned.calls).toHaveLength(2);
      for (const call of unsigned.calls) {
        expect(call.verdict).toBe('fail');
        expect(describeFindings(call)).toMatch(/the webhook answered HTTP 403 \(error 11200/);
      }
      // The token in the server command is never printed back.
      expect(signed.target).not.toContain(TOKEN);
      expect(signed.target).toContain('TWILIO_AUTH_TOKEN=[redacted]');
    }, 60_000);
  });
}
