// Which calls a line of the server's output belongs to, and each call's own bounded slice of it
// (the JUnit system-err, the HTML report's log panel). A line belongs to the call whose callSid or
// streamSid it names, and so do the lines printed right after it with it (a stack trace); a line
// that names none, to every call running when it was printed (or the last to end just before
// it). The crash scan ties its findings to calls the same way.
import { scanLine, type LogCollector, type LogLine } from './crash-scan.js';
import type { GateCallResult } from './gate.js';

/** One call's place in the run: what it is and when it ran (epoch ms). */
export interface CallWindow {
  result: GateCallResult;
  /** What the call's flow said of itself (fallback, warnings). */
  notes: string[];
  /** Why the server had no stats for this call; null when it had them. */
  statsNote: string | null;
  streamSid: string | null;
  startedAt: number;
  endedAt: number;
}

/** A call's own lines of the server's output, bounded: the first and the last, and how many between were left out. */
export interface ServerLogSlice {
  lines: string[];
  /** Lines of this call not kept (between the first and the last kept). */
  omitted: number;
  /** Kept lines that name no call and were printed while other calls ran too: theirs as much as this one's. */
  shared: number;
}

/** After a call ends, lines still arriving this long after are still its own. */
export const ATTRIBUTION_GRACE_MS = 500;
/** Lines kept from the start of a call's slice, and from its end (a crash is usually near the end). */
const HEAD_LINES = 40;
const TAIL_LINES = 160;
/** A kept line is cut to this many characters (the JSON report has the crash lines in full). */
const SLICE_LINE_CHARS = 1000;
const SID = /\b(?:CA|MZ)[0-9a-f]{32}\b/g;

/** The calls running at `at`; if none, the last one(s) to end just before it. */
export function windowsAt(windows: readonly CallWindow[], at: number): CallWindow[] {
  const running = windows.filter((w) => at >= w.startedAt && at <= w.endedAt);
  if (running.length > 0) return running;
  const recent = windows.filter((w) => at > w.endedAt && at <= w.endedAt + ATTRIBUTION_GRACE_MS);
  const lastEnd = Math.max(...recent.map((w) => w.endedAt));
  return recent.filter((w) => w.endedAt === lastEnd);
}

/** Each call's slice of `logs`, in `windows` order; lines printed after `until` (the gate stopping the server) belong to none. */
export function sliceServerLog(logs: LogCollector, windows: readonly CallWindow[], until: number): ServerLogSlice[] {
  const bySid = new Map<string, number>();
  windows.forEach((w, i) => {
    if (w.result.callSid !== null) bySid.set(w.result.callSid, i);
    if (w.streamSid !== null) bySid.set(w.streamSid, i);
  });
  const builders = windows.map(() => new SliceBuilder());
  // The lines that carry on from one naming a call are its too: on the same stream, next after it,
  // and a continuation (indented, an error line, or after a line ending in ':'), as a stack trace
  // under "[call CA…] error handling message:" is.
  const named = new Map<LogLine['stream'], { indexes: number[]; line: LogLine }>();
  for (const line of logs.lines) {
    if (line.at > until) continue;
    const indexes = namedCalls(line, bySid);
    const previous = named.get(line.stream);
    const carried: number[] = indexes.length > 0 ? indexes : previous !== undefined && continues(previous.line, line) ? previous.indexes : [];
    if (carried.length > 0) {
      for (const index of carried) builders[index]!.add(line, false);
      named.set(line.stream, { indexes: carried, line });
      continue;
    }
    named.delete(line.stream);
    const owners = windowsAt(windows, line.at);
    for (const owner of owners) builders[windows.indexOf(owner)]!.add(line, owners.length > 1);
  }
  return builders.map((builder) => builder.slice());
}

function continues(previous: LogLine, line: LogLine): boolean {
  return /^\s/.test(line.text) || scanLine(line) !== null || previous.text.trimEnd().endsWith(':');
}

function namedCalls(line: LogLine, bySid: ReadonlyMap<string, number>): number[] {
  const found = new Set<number>();
  for (const match of line.text.matchAll(SID)) {
    const index = bySid.get(match[0]);
    if (index !== undefined) found.add(index);
  }
  return [...found];
}

/** Keeps the first HEAD_LINES and the last TAIL_LINES lines it is given, and counts the rest. */
class SliceBuilder {
  private readonly head: string[] = [];
  private readonly tail: string[] = [];
  private omitted = 0;
  private shared = 0;
  private sharedInTail: boolean[] = [];

  add(line: LogLine, shared: boolean): void {
    const text = line.text.length > SLICE_LINE_CHARS ? `${line.text.slice(0, SLICE_LINE_CHARS)} [… cut]` : line.text;
    if (this.head.length < HEAD_LINES) {
      this.head.push(text);
      if (shared) this.shared += 1;
      return;
    }
    this.tail.push(text);
    this.sharedInTail.push(shared);
    if (shared) this.shared += 1;
    if (this.tail.length > TAIL_LINES) {
      this.tail.shift();
      if (this.sharedInTail.shift() === true) this.shared -= 1;
      this.omitted += 1;
    }
  }

  slice(): ServerLogSlice {
    const lines = this.omitted > 0 ? [...this.head, `[… ${this.omitted} lines of this call left out …]`, ...this.tail] : [...this.head, ...this.tail];
    return { lines, omitted: this.omitted, shared: this.shared };
  }
}
