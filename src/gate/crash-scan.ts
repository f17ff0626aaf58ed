// Crash signatures: what a server's output looks like when a call path blew up, in Node or Python.

export interface CrashSignature {
  name: string;
  pattern: RegExp;
}

export const CRASH_SIGNATURES: readonly CrashSignature[] = [
  { name: 'TypeError', pattern: /\bTypeError\b/ },
  { name: 'ReferenceError', pattern: /\bReferenceError\b/ },
  { name: 'RangeError', pattern: /\bRangeError\b/ },
  { name: 'undefined property read', pattern: /Cannot read propert(?:y|ies) of (?:undefined|null)/ },
  { name: 'undefined property write', pattern: /Cannot set propert(?:y|ies) of (?:undefined|null)/ },
  { name: 'not a function', pattern: /is not a function/ },
  { name: 'unhandled rejection', pattern: /[Uu]nhandled ?(?:[Pp]romise ?)?[Rr]ejection/ },
  { name: 'uncaught exception', pattern: /[Uu]ncaught ?[Ee]xception/ },
  { name: 'AttributeError', pattern: /\bAttributeError\b/ },
  { name: 'KeyError', pattern: /\bKeyError\b/ },
  { name: 'NameError', pattern: /\bNameError\b/ },
  { name: 'Python traceback', pattern: /Traceback \(most recent call last\)/ },
  { name: 'NaN counter', pattern: /\bNaN\b/ },
];

export interface LogLine {
  /** Epoch ms the line was read. */
  at: number;
  stream: 'stdout' | 'stderr' | 'log';
  text: string;
  /** Position in the server's output (0, 1, 2, ...): lines are found by it, not by search. */
  seq: number;
}

const SAME_CRASH_LINES = 60;
/** A line printed this long before a crash may still name its call. */
const PRECEDING_WINDOW_MS = 250;
const PYTHON_TRACEBACK = 'Python traceback';
/**
 * A line is kept to this many characters: a server that prints 64 MB without a newline, or a
 * progress bar redrawn with \r forever, must cost the gate linear time and bounded memory.
 */
export const MAX_LINE_CHARS = 4096;
/** Crash hits kept per run; beyond it they are only counted (a signature on every line of a flood). */
export const MAX_CRASH_HITS = 20_000;
/**
 * Crash hits kept per call they name (a Twilio SID near the line), or per second of output for
 * lines that name none: one call's flood must not use up what the other calls' crashes need.
 */
export const MAX_CRASH_HITS_PER_SOURCE = 100;
const SID_PATTERN = /\b(?:CA|MZ)[0-9a-f]{32}\b/;

export interface CrashHit {
  /** The most specific signature seen in the crash (AttributeError over "Python traceback"). */
  signature: string;
  /** Where the crash starts. */
  line: LogLine;
  /** The line that names the error, when it comes after the start (a traceback's last line). */
  detail: LogLine | null;
}

export function scanLine(line: LogLine): CrashHit | null {
  for (const signature of CRASH_SIGNATURES) {
    if (signature.pattern.test(line.text)) return { signature: signature.name, line, detail: null };
  }
  return null;
}

/** The unterminated end of one stream's output: its first MAX_LINE_CHARS, and how much was cut. */
interface PartialLine {
  text: string;
  cut: number;
}

/** Collects a server's output line by line, remembering which lines look like crashes. */
export class LogCollector {
  /** The most recent lines (a chatty server must not eat the gate's memory); hits keep their own. */
  readonly lines: LogLine[] = [];
  readonly hits: CrashHit[] = [];
  /** Crash hits past MAX_CRASH_HITS: counted, not kept. */
  droppedHits = 0;
  /** Lines longer than MAX_LINE_CHARS, and the characters cut from them. */
  longLines = 0;
  charsCut = 0;
  private readonly partial: Record<LogLine['stream'], PartialLine> = {
    stdout: { text: '', cut: 0 },
    stderr: { text: '', cut: 0 },
    log: { text: '', cut: 0 },
  };
  private readonly maxLines: number;
  private readonly lineListeners: Array<(line: LogLine) => void> = [];
  private nextSeq = 0;
  private readonly hitsBySource = new Map<string, number>();

  constructor(maxLines = 50_000) {
    this.maxLines = maxLines;
  }

  /** Calls `listener` with every whole line from now on. */
  onLine(listener: (line: LogLine) => void): void {
    this.lineListeners.push(listener);
  }

  /**
   * Output as it arrives. A line ends at \n, or at a \r that is not part of \r\n (a progress
   * bar redraws its line: each drawing is a line of its own). Work is linear in the chunk.
   */
  write(stream: LogLine['stream'], chunk: string): void {
    const partial = this.partial[stream];
    let from = 0;
    for (;;) {
      const end = nextLineEnd(chunk, from);
      if (end < 0) break;
      this.append(partial, chunk.slice(from, end));
      this.flush(stream, partial);
      from = end + (chunk.charCodeAt(end) === 13 && chunk.charCodeAt(end + 1) === 10 ? 2 : 1);
    }
    if (from < chunk.length) this.append(partial, chunk.slice(from));
  }

  /** Flushes an unterminated last line. */
  end(): void {
    for (const stream of ['stdout', 'stderr', 'log'] as const) this.flush(stream, this.partial[stream]);
  }

  add(stream: LogLine['stream'], text: string): void {
    const partial: PartialLine = { text: '', cut: 0 };
    this.append(partial, text);
    this.flush(stream, partial);
  }

  /** The line at output position `seq`, if it is still kept. */
  lineAt(seq: number): LogLine | undefined {
    const first = this.lines[0];
    if (first === undefined) return undefined;
    const line = this.lines[seq - first.seq];
    return line?.seq === seq ? line : undefined;
  }

  private append(partial: PartialLine, text: string): void {
    const room = MAX_LINE_CHARS - partial.text.length;
    if (text.length <= room) {
      partial.text += text;
    } else {
      if (room > 0) partial.text += text.slice(0, room);
      partial.cut += text.length - Math.max(0, room);
    }
  }

  private flush(stream: LogLine['stream'], partial: PartialLine): void {
    const { text, cut } = partial;
    partial.text = '';
    partial.cut = 0;
    if (text.trim() === '' && cut === 0) return;
    if (cut > 0) {
      this.longLines += 1;
      this.charsCut += cut;
    }
    this.push(stream, cut > 0 ? `${text} [... ${cut} more characters cut]` : text);
  }

  private push(stream: LogLine['stream'], text: string): void {
    const line: LogLine = { at: Date.now(), stream, text, seq: this.nextSeq };
    this.nextSeq += 1;
    this.lines.push(line);
    // Drop the oldest tenth at a time: recent context is what a crash needs.
    if (this.lines.length > this.maxLines) this.lines.splice(0, Math.ceil(this.maxLines / 10));
    for (const listener of this.lineListeners) listener(line);
    const hit = scanLine(line);
    if (!hit) return;
    // A Python traceback matches twice: its "Traceback" header, then the exception line after the
    // indented frames. That exception line names the header's crash; every other hit is its own
    // (Node's "TypeError: ..." is followed by indented "at" lines too, and the next call's error
    // printed right after them is a different crash).
    const traceback = this.openTraceback(line);
    const frame = /^\s/.test(line.text);
    if (traceback === null || (!frame && hit.signature === PYTHON_TRACEBACK)) {
      this.keep(hit);
    } else if (!frame) {
      traceback.signature = hit.signature;
      traceback.detail = line;
    }
    // else: a frame of the traceback whose source line names an error ("raise KeyError(...)").
  }

  private keep(hit: CrashHit): void {
    const source = this.sourceOf(hit.line);
    const count = this.hitsBySource.get(source) ?? 0;
    if (this.hits.length >= MAX_CRASH_HITS || count >= MAX_CRASH_HITS_PER_SOURCE) {
      this.droppedHits += 1;
      return;
    }
    this.hitsBySource.set(source, count + 1);
    this.hits.push(hit);
  }

  /** The call a crash line names (on it or just before it), else the second it was printed in. */
  private sourceOf(line: LogLine): string {
    for (let seq = line.seq; seq >= line.seq - 3; seq--) {
      const sid = SID_PATTERN.exec(this.lineAt(seq)?.text ?? '');
      if (sid) return sid[0];
    }
    return `second ${Math.floor(line.at / 1000)}`;
  }

  /** The last hit, when it is a traceback header still waiting for its exception line and only its frames (indented lines) came since. */
  private openTraceback(line: LogLine): CrashHit | null {
    const previous = this.hits[this.hits.length - 1];
    if (!previous || previous.signature !== PYTHON_TRACEBACK || previous.detail !== null || previous.line.stream !== line.stream) return null;
    if (line.seq - previous.line.seq > SAME_CRASH_LINES || this.lineAt(previous.line.seq) === undefined) return null;
    for (let seq = previous.line.seq + 1; seq < line.seq; seq++) {
      const between = this.lineAt(seq);
      if (between !== undefined && between.stream === line.stream && !/^\s/.test(between.text)) return null;
    }
    return previous;
  }

  /**
   * The lines printed just before a hit on any stream, nearest first, going back at most `count`
   * lines and `windowMs`: a server may say "call X failed" on stdout and print the traceback on
   * stderr.
   */
  preceding(hit: CrashHit, count: number, windowMs = PRECEDING_WINDOW_MS): string[] {
    const out: string[] = [];
    for (let seq = hit.line.seq - 1; seq >= hit.line.seq - count; seq--) {
      const line = this.lineAt(seq);
      if (line === undefined || hit.line.at - line.at > windowMs) break;
      out.push(line.text);
    }
    return out;
  }

  /** Lines around a hit: a stack trace follows its error line, a "call X failed" may precede it. */
  context(hit: CrashHit, before = 0, after = 6): string[] {
    const first = this.lines[0];
    const index = first === undefined ? -1 : hit.line.seq - first.seq;
    if (index < 0 || this.lines[index] !== hit.line) return [hit.line.text];
    return this.lines
      .slice(Math.max(0, index - before), index + 1 + after)
      .filter((l) => l.stream === hit.line.stream)
      .map((l) => l.text);
  }
}

/** Index of the next \n or \r in `text` from `from`, or -1. */
function nextLineEnd(text: string, from: number): number {
  const newline = text.indexOf('\n', from);
  const carriage = text.indexOf('\r', from);
  if (carriage < 0) return newline;
  if (newline < 0) return carriage;
  return Math.min(newline, carriage);
}
