// The gate's conversation options, as the CLI and the config file give them: scenario files
// and folders (read and checked before any server starts), thresholds, the bad line, and the
// baseline to save or compare against (refused before the run when it was made from other inputs).
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { BadLine } from '../caller/network.js';
import { BaselineError, baselineOf, checkSameInputs, compareToBaseline, DEFAULT_REGRESSION_FLOOR_MS, DEFAULT_REGRESSION_PCT, fileSha256, loadBaseline, saveBaseline, type Baseline, type BaselineComparison, type BaselineInputs, type RegressionRules } from '../gate/baseline.js';
import type { GateConfig } from '../gate/config.js';
import { FIGURE_NAMES, type Thresholds } from '../gate/figures.js';
import type { GateResult } from '../gate/gate.js';
import { loadScenario, ScenarioError, type LoadedScenario } from '../scenario/load.js';
import { UsageError } from './options.js';

const SCENARIO_FILE = /\.(ya?ml|json)$/i;

/** Every scenario the paths name (a folder: its *.yaml, *.yml and *.json, sorted), each loaded and checked. */
export function readScenarios(paths: readonly string[]): LoadedScenario[] {
  const files: string[] = [];
  for (const input of paths) {
    if (!existsSync(input)) throw new UsageError(`${input}: file not found`);
    if (statSync(input).isDirectory()) {
      const found = readdirSync(input).filter((name) => SCENARIO_FILE.test(name)).sort();
      if (found.length === 0) throw new UsageError(`${input}: no scenario files (*.yaml, *.yml, *.json) in this folder`);
      files.push(...found.map((name) => path.join(input, name)));
    } else {
      files.push(input);
    }
  }
  const seen = new Set<string>();
  const problems: string[] = [];
  const scenarios: LoadedScenario[] = [];
  for (const file of files) {
    if (seen.has(path.resolve(file))) continue;
    seen.add(path.resolve(file));
    try {
      scenarios.push(loadScenario(file));
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      problems.push(...err.problems);
    }
  }
  // Every broken file is said at once, before any server starts.
  if (problems.length > 0) throw new UsageError(`invalid scenario${problems.length > 1 ? 's' : ''}:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  return scenarios;
}

export interface ConversationCliOptions {
  maxResponseMs?: number;
  maxBargeInMs?: number;
  latencyMs?: number;
  jitterMs?: number;
  packetLoss?: number;
}

/** The config's thresholds, with --max-response-ms and --max-barge-in-ms over them. */
export function thresholdsOf(opts: ConversationCliOptions, config: GateConfig): Thresholds {
  const thresholds: Thresholds = {};
  for (const name of FIGURE_NAMES) {
    const value = config.thresholds?.[name];
    if (value !== undefined) thresholds[name] = value;
  }
  if (opts.maxResponseMs !== undefined) thresholds.responseMs = opts.maxResponseMs;
  if (opts.maxBargeInMs !== undefined) thresholds.bargeInMs = opts.maxBargeInMs;
  return thresholds;
}

/** The bad line from the options, else the config's keys of the same names; undefined: a clean line. */
export function badLineFrom(opts: ConversationCliOptions, config: GateConfig): BadLine | undefined {
  const latencyMs = opts.latencyMs ?? config.latencyMs;
  const jitterMs = opts.jitterMs ?? config.jitterMs;
  const packetLoss = opts.packetLoss ?? config.packetLoss;
  if (latencyMs === undefined && jitterMs === undefined && packetLoss === undefined) return undefined;
  return { latencyMs: latencyMs ?? 0, jitterMs: jitterMs ?? 0, packetLoss: packetLoss ?? 0 };
}

/** What a run's baseline is made of: every input's content and the settings that change what the caller does. */
export function baselineInputs(fixtures: readonly string[], scenarios: readonly LoadedScenario[], settings: Record<string, unknown>): BaselineInputs {
  return {
    files: [...fixtures.map((file) => ({ file, sha256: fileSha256(file) })), ...scenarios.map((s) => ({ file: s.file, sha256: s.contentHash }))],
    settings,
  };
}

export interface BaselinePlan {
  inputs: BaselineInputs;
  /** The baseline to compare against, read and its inputs checked before the run; null: none. */
  compare: Baseline | null;
  saveTo: string | null;
  rules: RegressionRules;
}

/** Reads and checks --baseline before any call: one made from other inputs is refused now, not after the run. */
export function planBaseline(file: string | undefined, saveTo: string | undefined, inputs: BaselineInputs, rules: Partial<RegressionRules>): BaselinePlan {
  const plan: BaselinePlan = { inputs, compare: null, saveTo: saveTo ?? null, rules: { pct: rules.pct ?? DEFAULT_REGRESSION_PCT, floorMs: rules.floorMs ?? DEFAULT_REGRESSION_FLOOR_MS } };
  if (file === undefined) return plan;
  try {
    plan.compare = loadBaseline(file);
  } catch (err) {
    if (err instanceof BaselineError) throw new UsageError(`--baseline ${err.message}`);
    throw err;
  }
  try {
    checkSameInputs(plan.compare, inputs);
  } catch (err) {
    if (err instanceof BaselineError) throw new UsageError(`--baseline ${file}: ${err.message}`);
    throw err;
  }
  return plan;
}

/**
 * After the run: the regressions against the baseline become findings of the cells they are in
 * (failing them, and the run), and the run's own baseline is saved when asked. Returns the
 * comparison (null without a baseline) and the save error, if any.
 */
export function settleBaseline(plan: BaselinePlan, result: GateResult): { comparison: BaselineComparison | null; saveError: string | null } {
  const current = baselineOf(result.calls, plan.inputs);
  let comparison: BaselineComparison | null = null;
  if (plan.compare !== null) {
    comparison = compareToBaseline(plan.compare, current, plan.rules);
    for (const regression of comparison.regressions) {
      for (const call of result.calls.filter((c) => c.cellId === regression.cell)) {
        call.findings.push({ kind: 'regression', message: `regression against the baseline: ${regression.message}`, lines: [] });
        call.verdict = 'fail';
      }
    }
    if (comparison.regressions.length > 0) result.verdict = 'fail';
    result.notes.push(...comparison.notes.map((note) => `baseline: ${note}`));
  }
  let saveError: string | null = null;
  if (plan.saveTo !== null) {
    try {
      saveBaseline(plan.saveTo, current);
    } catch (err) {
      saveError = `${plan.saveTo}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return { comparison, saveError };
}
