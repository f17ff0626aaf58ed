// Which WAVs `callsim gate` replays: those named on the command line or in the config, else
// ./fixtures, else the package's own (saying so, so nobody mistakes them for theirs).
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { packageFile, UsageError } from './options.js';

/** The package's own fixtures, for `npx callsim gate` run where there is no ./fixtures. */
const PACKAGE_FIXTURES = packageFile('fixtures');

/** What to replay, and, when nobody named it, where it came from and why (given how many WAVs that is). */
export function chooseFixtures(args: string[], configured: string[] | undefined): { inputs: string[]; why: ((count: number) => string) | null } {
  if (args.length > 0) return { inputs: args, why: null };
  if (configured !== undefined && configured.length > 0) return { inputs: configured, why: null };
  const wavs = (count: number): string => `${count} WAV${count === 1 ? '' : 's'}`;
  if (existsSync('fixtures')) return { inputs: ['fixtures'], why: (count) => `the ${wavs(count)} in ./fixtures, the default folder (name others on the command line or in gate.fixtures)` };
  return {
    inputs: [PACKAGE_FIXTURES],
    why: (count) => `callsim's own ${wavs(count)} (${PACKAGE_FIXTURES}), as there is no ./fixtures here: put yours there, or name them on the command line or in gate.fixtures`,
  };
}

/** Every WAV the inputs name (a folder: its .wav files, sorted), each once. */
export function resolveFixtures(inputs: string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    if (!existsSync(input)) throw new UsageError(`${input}: file not found`);
    if (statSync(input).isDirectory()) {
      const wavs = readdirSync(input).filter((name) => name.toLowerCase().endsWith('.wav')).sort();
      if (wavs.length === 0) throw new UsageError(`${input}: no .wav files in this folder`);
      files.push(...wavs.map((name) => path.join(input, name)));
    } else {
      files.push(input);
    }
  }
  // The same file named twice (a folder and a file in it) is one fixture.
  const seen = new Set<string>();
  return files.filter((file) => {
    const key = path.resolve(file);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
