// bench/pass-rates.ts: issue 16's targets over several bench runs, as counts of runs that met,
// missed or could not claim each one, read from results files shaped as npm run bench writes them.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SCRIPT = path.resolve('dist/bench/pass-rates.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'callsim-pass-rates-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One run's results as npm run bench writes them: serve's capacity, the CPU ratio, and whether each target was met. */
function results(name: string, callsim: [number, string], cpuRatio: number, vsEcho: boolean | null): string {
  const file = path.join(dir, name);
  const target = (t: number, value: number | null, met: boolean | null) => ({ target: t, value, met });
  writeFileSync(
    file,
    JSON.stringify({
      date: '2026-12-01T00:00:00.000Z',
      full: true,
      headline: {
        maxCalls: callsim[0],
        limitedBy: callsim[1],
        peers: { echo: { capacity: 400, limitedBy: 'server' }, fastify: { capacity: 200, limitedBy: 'generator' } },
        targets: { vsEcho: target(0.8, callsim[0] / 400, vsEcho), cpuRatio: target(1.3, cpuRatio, cpuRatio <= 1.3), vsFastify: target(2, callsim[0] / 200, null), vsPython: target(4, null, null) },
        otherProcesses: { disturbed: name === 'c.json' },
      },
    }),
  );
  return file;
}

describe('bench pass rates', () => {
  it('counts, for each target, the runs that met it, missed it and could not claim it', async () => {
    const files = [results('a.json', [360, 'server'], 1.25, true), results('b.json', [300, 'server'], 1.42, false), results('c.json', [400, 'generator'], 1.3, null)];
    const out = path.join(dir, 'summary.json');
    const { stdout } = await run(process.execPath, [SCRIPT, ...files, '--out', out]);
    const summary = JSON.parse(readFileSync(out, 'utf8')) as { runs: number; disturbedRuns: number; capacities: Record<string, string[]>; targets: Record<string, { met: number; missed: number; notClaimed: number; values: Array<number | null> }> };
    expect(summary.runs).toBe(3);
    expect(summary.disturbedRuns).toBe(1);
    expect(summary.capacities.callsim).toEqual(['360', '300', '≥400']);
    expect(summary.capacities.fastify).toEqual(['≥200', '≥200', '≥200']);
    expect(summary.capacities.python).toEqual(['n/a', 'n/a', 'n/a']);
    expect(summary.targets.cpuRatio).toMatchObject({ met: 2, missed: 1, notClaimed: 0, values: [1.25, 1.42, 1.3] });
    expect(summary.targets.vsEcho).toMatchObject({ met: 1, missed: 1, notClaimed: 1 });
    expect(summary.targets.vsFastify).toMatchObject({ met: 0, missed: 0, notClaimed: 3 });
    expect(stdout).toContain("serve's CPU per frame ÷ the echo's");
    expect(stdout).toContain('met in 2 of 3, missed in 1, not claimed in 0');
  });

  it('refuses a file that is not a bench result, saying which', async () => {
    const file = path.join(dir, 'other.json');
    writeFileSync(file, '{"steps": []}');
    const failed = await run(process.execPath, [SCRIPT, file]).then(
      () => null,
      (err: { code: number; stderr: string }) => err,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(`${file}: not a results file of npm run bench`);
  });
});
