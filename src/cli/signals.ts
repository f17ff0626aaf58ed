// Ctrl-C and SIGTERM for a command that must still write its reports: the first signal aborts the
// run (calls hang up, the server is stopped, every report is written, exit 130 or 143); a second
// one exits at once, as a second Ctrl-C does anywhere.
import { EXIT_INTERRUPTED, EXIT_TERMINATED, type ExitCode } from './exit-codes.js';

export interface SignalWatch {
  /** Aborted, with the signal's name as its reason, at the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** The exit code for the signal that came, or null when none did. */
  exitCode(): ExitCode | null;
  release(): void;
}

const CODES: Record<'SIGINT' | 'SIGTERM', ExitCode> = { SIGINT: EXIT_INTERRUPTED, SIGTERM: EXIT_TERMINATED };

/** Watches SIGINT and SIGTERM until released; `onFirst` says what the command does about the first. */
export function watchSignals(onFirst: (signal: 'SIGINT' | 'SIGTERM') => void): SignalWatch {
  const controller = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | null = null;
  const handle = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (received !== null) process.exit(CODES[signal]);
    received = signal;
    onFirst(signal);
    controller.abort(signal);
  };
  const onInt = (): void => handle('SIGINT');
  const onTerm = (): void => handle('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    exitCode: () => (received === null ? null : CODES[received]),
    release: () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    },
  };
}
