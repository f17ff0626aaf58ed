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
}

const SAME_CRASH_LINES = 60;
const PYTHON_TRACEBACK = 'Python traceback';

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

/** Collects a server's output line by line, remembering which lines look like crashes. */
export class LogCollector {
  /** The most recent lines (a chatty server must not eat the gate's memory); hits keep their own. */
  readonly lines: LogLine[] = [];
  readonly hits: CrashHit[] = [];
  private readonly partial: Record<LogLine['stream'], string> = { stdout: '', stderr: '', log: '' };
  private readonly maxLines: number;
  private readonly lineListeners: Array<(line: LogLine) => void> = [];

  constructor(maxLines = 50_000) {
    this.maxLines = maxLines;
  }

  /** Calls `listener` with every whole line from now on. */
  onLine(listener: (line: LogLine) => void): void {
    this.lineListeners.push(listener);
  }

  write(stream: LogLine['stream'], chunk: string): void {
    const text = this.partial[stream] + chunk;
    const parts = text.split('\n');
    this.partial[stream] = parts.pop() ?? '';
    for (const part of parts) this.add(stream, part.replace(/\r$/, ''));
  }

  /** Flushes an unterminated last line. */
  end(): void {
    for (const stream of ['stdout', 'stderr', 'log'] as const) {
      if (this.partial[stream] !== '') this.add(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  add(stream: LogLine['stream'], text: string): void {
    if (text.trim() === '') return;
    const line: LogLine = { at: Date.now(), stream, text };
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
    if (traceback === null || (!frame && hit.signature === PYTHON_TRACEBACK)) this.hits.push(hit);
    else if (!frame) {
      traceback.signature = hit.signature;
      traceback.detail = line;
    }
    // else: a frame of the traceback whose source line names an error ("raise KeyError(...)").
  }

  /** The last hit, when it is a traceback header still waiting for its exception line and only its frames (indented lines) came since. */
  private openTraceback(line: LogLine): CrashHit | null {
    const previous = this.hits[this.hits.length - 1];
    if (!previous || previous.signature !== PYTHON_TRACEBACK || previous.detail !== null || previous.line.stream !== line.stream) return null;
    const from = this.lines.lastIndexOf(previous.line);
    // `line` was just pushed: it is the last one.
    const to = this.lines.length - 1;
    if (from < 0 || to - from > SAME_CRASH_LINES) return null;
    return this.lines.slice(from + 1, to).every((l) => l.stream !== line.stream || /^\s/.test(l.text)) ? previous : null;
  }

  /** Lines around a hit: a stack trace follows its error line, a "call X failed" may precede it. */
  context(hit: CrashHit, before = 0, after = 6): string[] {
    const index = this.lines.indexOf(hit.line);
    if (index < 0) return [hit.line.text];
    return this.lines
      .slice(Math.max(0, index - before), index + 1 + after)
      .filter((l) => l.stream === hit.line.stream)
      .map((l) => l.text);
  }
}
