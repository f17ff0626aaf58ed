// Structured logging on stderr: one line per call event of note, as JSON or for people.
import { printable } from './text/printable.js';
import { styleFor, type Style } from './text/style.js';

export type LogFormat = 'json' | 'pretty';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const LEVEL_RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const LEVEL_COLOR: Record<LogLevel, (style: Style, s: string) => string> = {
  debug: (style, s) => style.gray(s),
  info: (style, s) => style.cyan(s),
  warn: (style, s) => style.yellow(s),
  error: (style, s) => style.red(s),
};

// Secrets must never reach a log line, whatever field they hide in.
const SECRET_PATTERNS: RegExp[] = [/sk-[A-Za-z0-9_-]{8,}/g, /Bearer\s+[A-Za-z0-9._-]+/gi];

export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 6) out = out.split(secret).join('[redacted]');
  }
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, '[redacted]');
  return out;
}

export interface LoggerOptions {
  format?: LogFormat;
  level?: LogLevel;
  /** Values (API keys, auth tokens) to scrub from every line. */
  secrets?: readonly string[];
  write?: (line: string) => void;
  /** Colours of pretty lines; default: what NO_COLOR, FORCE_COLOR and stderr say. */
  style?: Style;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'pretty';
  const minRank = LEVEL_RANK[options.level ?? 'info'];
  const secrets = (options.secrets ?? []).filter((s) => s.length > 0);
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const style = options.style ?? styleFor(process.stderr);

  const emit = (level: LogLevel, msg: string, fields: LogFields = {}): void => {
    if (LEVEL_RANK[level] < minRank) return;
    let line: string;
    if (format === 'json') {
      line = JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields }, jsonSafe);
    } else {
      // Field values can quote what a peer sent (a callSid, a digit): escaped, so a newline or an
      // escape sequence in them cannot forge a log line or drive the terminal.
      const parts = Object.entries(fields).map(([k, v]) => `${printable(k)}=${printable(typeof v === 'string' ? v : (JSON.stringify(v, jsonSafe) ?? String(v)))}`);
      line = `${style.gray(new Date().toISOString())} ${LEVEL_COLOR[level](style, level.toUpperCase().padEnd(5))} ${printable(msg)}${parts.length ? ' ' + style.gray(parts.join(' ')) : ''}`;
    }
    write(redactSecrets(line, secrets));
  };

  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
  };
}

function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
