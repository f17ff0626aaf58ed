// Small pieces every command shares: usage errors (exit 2) and option parsers with clear messages.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseReporterSpec, REPORTER_NAMES, reporterConflict, type ReporterSpec } from '../report/index.js';

/**
 * Bad usage or input: the CLI prints the message in one line and exits 2, ending with `hint` (what
 * to do instead) or, without one, where the help is.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(
    message: string,
    readonly hint: string | null = null,
  ) {
    super(message);
  }
}

export function parseIntegerOption(flag: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag} must be an integer from ${min} to ${max}, got "${value}"`);
    }
    return n;
  };
}

export function parsePositiveNumberOption(flag: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${flag} must be a number > 0, got "${value}"`);
    return n;
  };
}

/** A file the command will write: its folder must exist now, not fail after a whole run. */
export function requireOutputFolder(file: string): void {
  const dir = path.dirname(path.resolve(file));
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new UsageError(`${file}: directory ${dir} does not exist`);
  }
  if (!isDir) throw new UsageError(`${file}: ${dir} is not a directory`);
}

/** `--reporter name[=file]`, repeatable: each adds one report. */
export const REPORTER_OPTION_HELP = `a report to write (repeatable): ${REPORTER_NAMES.join(', ')}; name=FILE writes it to a file. Replaces the default reports`;

export function collectReporter(value: string, previous: ReporterSpec[] | undefined): ReporterSpec[] {
  const spec = parseReporterSpec(value);
  if (typeof spec === 'string') throw new InvalidArgumentError(spec);
  return [...(previous ?? []), spec];
}

/** Before the run: the reports do not collide, and every file's folder exists. */
export function checkReporterOutputs(specs: readonly ReporterSpec[]): void {
  const conflict = reporterConflict(specs);
  if (conflict !== null) throw new UsageError(conflict);
  for (const spec of specs) if (spec.file !== null) requireOutputFolder(spec.file);
}

/** A Media Streams URL: ws:// or wss://, with a hint for the http:// mix-up. */
export function parseWsUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a URL (expected ws://host:port/path or wss://...)`);
  }
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    throw new InvalidArgumentError(`Media Streams need a WebSocket URL: did you mean ${value.replace(/^http/, 'ws')}?`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new InvalidArgumentError(`"${value}" is not a ws:// or wss:// URL`);
  return value;
}

/**
 * A file of the installed package (package.json, the shipped fixtures): found by walking up from
 * this module, which sits at a different depth when built (dist/src/cli) than in the sources.
 */
export function packageFile(relative: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('callsim: cannot find its own package.json');
    dir = parent;
  }
  return path.join(dir, relative);
}
