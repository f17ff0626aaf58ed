// src/report/: what callsim hands back after a run. A reporter is an object with optional hooks
// (reporter.ts), one file per reporter (progress, table, json, junit, github, and html/ for the
// page), picked by name from the
// map below (`--reporter name[=file]`), all fed the same events by `callsim replay` and `callsim
// gate`. A new reporter is one new file and one line here. This folder may import the types of
// caller/ and gate/ results and the helpers in text/; never the server, the model or the CLI.
import path from 'node:path';
import type { CallProgress } from '../caller/call.js';
import { githubReporter } from './github.js';
import { htmlReporter } from './html/reporter.js';
import { jsonReporter } from './json.js';
import { junitReporter } from './junit.js';
import { progressReporter } from './progress.js';
import type { CallEnd, CallStart, Reporter, ReporterContext, RunCommand, RunEnd, RunFailure, RunStart, TextSink } from './reporter.js';
import { tableReporter } from './table.js';
import { PLAIN, styleFor, type Style } from '../text/style.js';

interface ReporterKind {
  create: (context: ReporterContext) => Reporter;
  /** Where it writes when given no file (github: its annotations, always). */
  stream: 'stdout' | 'stderr';
  /** Whether `name=FILE` means anything: the live line has no file; github's is its Markdown summary. */
  takesFile: boolean;
}

export const REPORTERS = {
  table: { create: tableReporter, stream: 'stdout', takesFile: true },
  json: { create: jsonReporter, stream: 'stdout', takesFile: true },
  junit: { create: junitReporter, stream: 'stdout', takesFile: true },
  html: { create: htmlReporter, stream: 'stdout', takesFile: true },
  github: { create: githubReporter, stream: 'stderr', takesFile: true },
  progress: { create: progressReporter, stream: 'stderr', takesFile: false },
} as const satisfies Record<string, ReporterKind>;

export type ReporterName = keyof typeof REPORTERS;
export const REPORTER_NAMES = Object.keys(REPORTERS) as ReporterName[];

/** One `--reporter name[=file]`. */
export interface ReporterSpec {
  name: ReporterName;
  file: string | null;
}

function isReporterName(name: string): name is ReporterName {
  return Object.hasOwn(REPORTERS, name);
}

/** `name` or `name=file`; a string says what is wrong with it. */
export function parseReporterSpec(value: string): ReporterSpec | string {
  const eq = value.indexOf('=');
  const name = eq < 0 ? value : value.slice(0, eq);
  if (!isReporterName(name)) return `unknown reporter "${name}" (known: ${REPORTER_NAMES.join(', ')})`;
  if (eq < 0) return { name, file: null };
  const file = value.slice(eq + 1);
  if (file === '') return `${name}=: a file name must follow the =`;
  if (!REPORTERS[name].takesFile) return `the ${name} reporter writes to stderr and takes no file`;
  return { name, file };
}

/** What would make the reports collide: two on stdout, or two writing one file. Null when fine. */
export function reporterConflict(specs: readonly ReporterSpec[]): string | null {
  const onStdout = specs.filter((s) => s.file === null && REPORTERS[s.name].stream === 'stdout').map((s) => s.name);
  if (onStdout.length > 1) return `only one report can go to stdout (${onStdout.join(', ')}): give the others a file, as in --reporter ${onStdout[1]}=FILE`;
  const seen = new Map<string, ReporterName>();
  for (const spec of specs) {
    if (spec.file === null) continue;
    const key = path.resolve(spec.file);
    const earlier = seen.get(key);
    if (earlier === spec.name) return `${spec.file}: the ${spec.name} report is asked for twice`;
    if (earlier !== undefined) return `${spec.file}: both the ${earlier} and the ${spec.name} reports would write this file`;
    seen.set(key, spec.name);
  }
  return null;
}

export interface ReporterIo {
  command: RunCommand;
  stdout?: TextSink;
  stderr?: TextSink;
  /** Colours for each stream; default: what NO_COLOR, FORCE_COLOR and the stream itself say (text/style.ts). */
  stdoutStyle?: Style;
  stderrStyle?: Style;
  quiet?: boolean;
  /** Each call's timeline in the JSON report too. */
  timeline?: boolean;
}

export interface ReporterError {
  reporter: ReporterName;
  hook: keyof Reporter;
  message: string;
}

/**
 * The reporters of one run behind one set of hooks. A reporter that throws is recorded in
 * `errors` and the others go on: one unwritable file does not cost the run its other reports.
 */
export class ReporterGroup implements Required<Reporter> {
  readonly errors: ReporterError[] = [];
  private readonly members: Array<{ name: ReporterName; reporter: Reporter }>;

  constructor(specs: readonly ReporterSpec[], io: ReporterIo) {
    const stdout = io.stdout ?? process.stdout;
    const stderr = io.stderr ?? process.stderr;
    // The live line ends first, so it is gone before any report prints beneath it.
    const live = (name: ReporterName): number => Number(name === 'progress');
    const ordered = [...specs].sort((a, b) => live(b.name) - live(a.name));
    this.members = ordered.map((spec) => {
      const kind: ReporterKind = REPORTERS[spec.name];
      const style = spec.file !== null ? PLAIN : kind.stream === 'stderr' ? (io.stderrStyle ?? styleFor(stderr)) : (io.stdoutStyle ?? styleFor(stdout));
      const context: ReporterContext = { command: io.command, file: spec.file, stdout, stderr, style, quiet: io.quiet ?? false, timeline: io.timeline ?? false };
      return { name: spec.name, reporter: kind.create(context) };
    });
  }

  onRunStart(run: RunStart): Promise<void> {
    return this.eachAsync('onRunStart', (r) => r.onRunStart?.(run));
  }

  onCallStart(call: CallStart): void {
    this.each('onCallStart', (r) => r.onCallStart?.(call));
  }

  onCallProgress(progress: CallProgress): void {
    this.each('onCallProgress', (r) => r.onCallProgress?.(progress));
  }

  onCallEnd(call: CallEnd): void {
    this.each('onCallEnd', (r) => r.onCallEnd?.(call));
  }

  onRunEnd(run: RunEnd): Promise<void> {
    return this.eachAsync('onRunEnd', (r) => r.onRunEnd?.(run));
  }

  onRunFailure(failure: RunFailure): Promise<void> {
    return this.eachAsync('onRunFailure', (r) => r.onRunFailure?.(failure));
  }

  private each(hook: keyof Reporter, call: (reporter: Reporter) => void): void {
    for (const { name, reporter } of this.members) {
      try {
        call(reporter);
      } catch (err) {
        this.errors.push({ reporter: name, hook, message: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  // In order, one at a time: reports on stdout come out in the order they were asked for.
  private async eachAsync(hook: keyof Reporter, call: (reporter: Reporter) => void | Promise<void>): Promise<void> {
    for (const { name, reporter } of this.members) {
      try {
        await call(reporter);
      } catch (err) {
        this.errors.push({ reporter: name, hook, message: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}

export type { CallEnd, CallStart, Reporter, ReporterContext, RunCommand, RunEnd, RunFailure, RunStart, TextSink } from './reporter.js';
export { replayCallResult, replayCell, replayRun } from './reporter.js';
export { formatGateTable, formatReplayReport } from './table.js';
export { formatJunit, formatJunitFailure } from './junit.js';
export { annotations as githubAnnotations, summaryMarkdown as githubSummary, escapeData, escapeProperty } from './github.js';
export { formatHtml, formatHtmlFailure } from './html/reporter.js';
export { FIGURE_KINDS, summarizeFigures, percentile, type FigureKind, type FigureSummary } from './figures.js';
export { groupFindings, type FindingGroup } from './findings.js';
