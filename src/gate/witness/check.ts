// One model-side check's verdict: a named check like the replay's own (pass, fail or skip, with
// what it saw), and for a failure the line the report leads with, which names the check.
import type { CheckStatus, ReplayCheck } from '../../caller/checks.js';

export interface ModelCheck extends ReplayCheck {
  status: CheckStatus;
  /** The report's line for a failure ("model-audio-in: …"); null unless it failed. */
  failure: string | null;
}

export function passed(name: string, reason: string): ModelCheck {
  return { name, status: 'pass', reason, failure: null };
}

/** `consequence`: what it means for a caller, after the facts. */
export function failed(name: string, reason: string, consequence: string): ModelCheck {
  return { name, status: 'fail', reason, failure: `${name}: ${reason} — ${consequence}` };
}

export function skipped(name: string, reason: string): ModelCheck {
  return { name, status: 'skip', reason, failure: null };
}

/** A duration for people: "340 ms", "2.4 s". */
export function ms(value: number): string {
  return Math.abs(value) < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(1)} s`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
