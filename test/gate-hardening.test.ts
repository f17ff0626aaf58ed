// The gate against servers whose output is hostile in size: a crash line on every line, lines
// that never end. Its findings and reports stay bounded and say what they cut.
import { describe, expect, it } from 'vitest';
import { MAX_CRASH_FINDINGS_PER_CALL, runGate } from '../src/gate/gate.js';

describe('callsim gate against a flooding server', () => {
  it('lists at most MAX_CRASH_FINDINGS_PER_CALL crash findings per call, counts the rest, and cuts endless lines', async () => {
    const result = await runGate({
      fixtures: ['fixtures/hello-8k-mulaw.wav'],
      directions: ['inbound', 'outbound'],
      timings: ['burst'],
      speed: 4,
      concurrency: 2,
      target: { kind: 'command', command: 'node test/servers/crash-flood.mjs --port {port}', wsPath: '/media', readyTimeoutMs: 10_000 },
      expectAudio: true,
    });
    expect(result.verdict).toBe('fail');
    for (const call of result.calls) {
      const crashes = call.findings.filter((f) => f.kind === 'crash-signature');
      expect(crashes.length).toBe(MAX_CRASH_FINDINGS_PER_CALL + 1);
      expect(crashes[0]?.message).toContain('TypeError');
      expect(crashes.at(-1)?.message).toMatch(/^\d+ more crash lines not listed \(at most 20 per call\)$/);
    }
    // Both calls' dumps go to stdout with no newline ever: one endless line, cut.
    expect(result.serverOutput?.longLinesCut).toBe(1);
    expect(result.serverOutput?.charsCut).toBeGreaterThan(4 * 1024 * 1024 - 10_000);
    expect(result.serverOutput?.crashLinesNotKept).toBeGreaterThan(0);
    expect(result.unattributed.map((f) => f.message)).toContainEqual(expect.stringMatching(/^\d+ more crash lines in the server's output were counted but not kept/));
    // The whole result stays small: the flood is tens of thousands of lines and 4 MB of dump.
    expect(JSON.stringify(result).length).toBeLessThan(500_000);
  });
});
