// Small pieces every command shares: usage errors (exit 2) and option parsers with clear messages.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseReporterSpec, REPORTER_NAMES, reporterConflict, type ReporterSpec } from '../report/index.js';
import { validateNetworkDelay, type BadLine, type NetworkDelay } from '../caller/network.js';
import type { WebhookMethod, WebhookTarget } from '../caller/replay.js';

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

/** A voice webhook URL: absolute http:// or https://. */
export function parseWebhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError(`"${value}" is not a URL (expected http://host:port/path or https://...)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError(`a voice webhook is an http:// or https:// URL, got "${value}"`);
  return value;
}

/** A path on the target's base URL, for its voice webhook. */
export function parseWebhookPath(value: string): string {
  if (!value.startsWith('/')) throw new InvalidArgumentError(`a webhook path starts with "/", got "${value}"`);
  return value;
}

export function parseWebhookMethod(value: string): WebhookMethod {
  const method = value.toUpperCase();
  if (method !== 'GET' && method !== 'POST') throw new InvalidArgumentError(`a webhook method is GET or POST, got "${value}"`);
  return method;
}

/** `--param name=value` (repeatable): direct mode's customParameters; `{direction}` is filled in per call. */
export function collectParam(value: string, previous: Record<string, string> | undefined): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected name=value.');
  return { ...previous, [value.slice(0, eq)]: value.slice(eq + 1) };
}

/** `--network-delay-ms N` (fixed) or `A-B` (uniform per message). */
export function parseNetworkDelay(value: string): NetworkDelay {
  const range = /^\s*(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\s*$/.exec(value);
  const delay: NetworkDelay = range ? { minMs: Number(range[1]), maxMs: Number(range[2]) } : { fixedMs: Number(value) };
  if (value.trim() === '') throw new InvalidArgumentError('expected milliseconds, as 30 or 20-40.');
  try {
    validateNetworkDelay(delay);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}; expected milliseconds, as 30 or 20-40.`);
  }
  return delay;
}

/** The webhook options both commands take, as given. */
export interface WebhookCliOptions {
  /** A URL, or false for --no-webhook. */
  webhook?: string | false;
  webhookPath?: string;
  param?: Record<string, string>;
}

/**
 * What a target does without --webhook/--webhook-path/--no-webhook: dial directly (a --url), use
 * its webhook (the built-in server has /twiml), or try its webhook and dial directly on a 404
 * (a server command).
 */
export type DefaultPlacement = 'direct' | 'webhook' | 'webhook-or-direct';

/** --webhook, --webhook-path and --no-webhook are one choice; --param belongs to direct mode. */
export function webhookTargetOf(options: WebhookCliOptions, byDefault: DefaultPlacement): WebhookTarget | null | undefined {
  if (options.webhook !== undefined && options.webhookPath !== undefined) {
    throw new UsageError(options.webhook === false ? 'use --webhook-path or --no-webhook, not both' : 'use --webhook or --webhook-path, not both');
  }
  const target: WebhookTarget | null | undefined =
    options.webhook === false ? null : typeof options.webhook === 'string' ? { url: options.webhook } : options.webhookPath !== undefined ? { path: options.webhookPath } : undefined;
  const mayDialDirectly = target === null || (target === undefined && byDefault !== 'webhook');
  if (!mayDialDirectly && options.param !== undefined && Object.keys(options.param).length > 0) {
    throw new UsageError("--param sets customParameters in direct mode only (--no-webhook, or a --url target without --webhook): through a webhook, the TwiML's <Parameter>s are the customParameters");
  }
  return target;
}

/** What each bad-line option does, said once for every command that takes it. */
export const BAD_LINE_HELP = {
  latency: 'one-way latency (ms) added to every message both ways between Twilio and the server',
  jitter: 'up to this many more ms per message, drawn from the seed; frames bunch up, never reorder',
  loss: 'share of caller frames lost before Twilio got them (0.02 or 2%, below 1): never sent, the next timestamp jumps',
} as const;

/** A rate from 0 up to (not including) 1, or a percentage like 5%. */
export function parseRateOption(flag: string): (value: string) => number {
  return (value) => {
    const percent = value.trim().endsWith('%');
    const n = Number(percent ? value.trim().slice(0, -1) : value) / (percent ? 100 : 1);
    if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) throw new InvalidArgumentError(`${flag} must be a rate from 0 up to 1 (or a percentage below 100%), got "${value}"`);
    return n;
  };
}

/** A network seed: a whole number from 0 to 2^32 - 1. */
export function parseSeedOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError(`--seed must be a whole number from 0 to 4294967295, got "${value}"`);
  return n;
}

/** The bad line the options ask for; undefined when they ask for none. */
export function badLineOf(options: { latencyMs?: number; jitterMs?: number; packetLoss?: number }): BadLine | undefined {
  if (options.latencyMs === undefined && options.jitterMs === undefined && options.packetLoss === undefined) return undefined;
  return { latencyMs: options.latencyMs ?? 0, jitterMs: options.jitterMs ?? 0, packetLoss: options.packetLoss ?? 0 };
}
