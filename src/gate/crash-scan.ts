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

export interface CrashHit {
  signature: string;
  line: LogLine;
}

export function scanLine(line: LogLine): CrashHit | null {
  for (const signature of CRASH_SIGNATURES) {
    if (signature.pattern.test(line.text)) return { signature: signature.name, line };
  }
  return null;
}

/** Collects a server's output line by line, remembering which lines look like crashes. */
export class LogCollector {
  readonly lines: LogLine[] = [];
  readonly hits: CrashHit[] = [];
  private readonly partial: Record<LogLine['stream'], string> = { stdout: '', stderr: '', log: '' };
  /** Lines kept; a chatty server must not eat the gate's memory. */
  private readonly maxLines: number;

  constructor(maxLines = 50_000) {
    this.maxLines = maxLines;
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
    if (this.lines.length < this.maxLines) this.lines.push(line);
    const hit = scanLine(line);
    if (hit) this.hits.push(hit);
  }

  /** Lines around a hit (a stack trace follows its error line). */
  context(hit: CrashHit, after = 6): string[] {
    const index = this.lines.indexOf(hit.line);
    if (index < 0) return [hit.line.text];
    return this.lines.slice(index, index + 1 + after).filter((l) => l.stream === hit.line.stream).map((l) => l.text);
  }
}
