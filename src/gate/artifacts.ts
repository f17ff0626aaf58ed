// `--artifacts DIR`: what a failing cell leaves behind to look at — its stereo recording, its JSONL
// wire trace (both legs, payloads hashed, secrets redacted) and the server's log lines for that
// call (its slice, server-log.ts) — in a folder of its own. Every call writes its recording and trace as it ends (the gate
// only knows a call failed once the server's output has been judged); a call that passed has
// them removed at the end.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface CallArtifacts {
  dir: string;
  recording: string | null;
  trace: string | null;
  serverLog: string | null;
  /** What could not be written, in a line each. */
  errors: string[];
}

/** A cell's folder name: its id with anything but letters, digits, dots and dashes made a dash. */
export function artifactFolder(root: string, cellId: string): string {
  return path.join(root, cellId.replace(/[^A-Za-z0-9.]+/g, '-').replace(/^-+|-+$/g, '') || 'call');
}

/** The folder for a call, made now; null (and the reason) when it cannot be. */
export function prepareArtifacts(root: string, cellId: string): { dir: string; error: string | null } {
  const dir = artifactFolder(root, cellId);
  try {
    mkdirSync(dir, { recursive: true });
    return { dir, error: null };
  } catch (err) {
    return { dir, error: `${dir}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Writes the call's lines of the server's output (already its own, and redacted) into its folder; the error as a string, or null. */
export function writeServerLog(dir: string, lines: readonly string[]): { file: string; error: string | null } {
  const file = path.join(dir, 'server.log');
  try {
    writeFileSync(file, lines.join('\n') + (lines.length > 0 ? '\n' : ''));
    return { file, error: null };
  } catch (err) {
    return { file, error: err instanceof Error ? err.message : String(err) };
  }
}

/** A call's result, as far as its artifacts go. */
export interface ArtifactCall {
  result: { verdict: 'pass' | 'fail'; artifacts: CallArtifacts | null; serverLog: { lines: string[] } | null };
}

/** Once every call is judged: a failing call keeps its recording and trace and gets its server log lines beside them; one that passed keeps nothing. */
export function keepArtifacts(calls: readonly ArtifactCall[]): void {
  for (const { result } of calls) {
    const artifacts = result.artifacts;
    if (artifacts === null) continue;
    if (result.verdict === 'pass') {
      rmSync(artifacts.dir, { recursive: true, force: true });
      result.artifacts = null;
      continue;
    }
    const log = writeServerLog(artifacts.dir, result.serverLog?.lines ?? []);
    artifacts.serverLog = log.error === null ? log.file : null;
    if (log.error !== null) artifacts.errors.push(`${log.file}: ${log.error}`);
  }
}
