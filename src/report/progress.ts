// The live progress line on stderr, for replay and gate alike: on a terminal one line that
// overwrites itself; elsewhere (CI logs) one line per finished call, never a carriage return.
// The line is cut to the terminal's width (a line that wraps can no longer be overwritten, and
// leaves its first half behind) and redrawn with a carriage return and spaces over what the last
// drawing left: no cursor escapes, so NO_COLOR output has no escape codes at all.
import { printable } from '../text/printable.js';
import { truncateVisible, visibleLength } from '../text/columns.js';
import type { Reporter, ReporterContext } from './reporter.js';

/** Redraws from a call's own progress events at most this often. */
const REDRAW_INTERVAL_MS = 100;
/** Columns when the stream does not say (a terminal that reports none). */
const DEFAULT_COLUMNS = 80;

export function progressReporter(context: ReporterContext): Reporter {
  const { stderr, style } = context;
  const prefix = `callsim ${context.command}:`;
  const tty = stderr.isTTY === true;
  /** Visible columns of what is on the line now; 0 when nothing is drawn. */
  let drawnWidth = 0;
  let drawnAt = 0;
  let failed = 0;
  const draw = (text: string): void => {
    // The last column stays empty: writing into it makes some terminals wrap at once.
    const fitted = truncateVisible(text, Math.max(1, (stderr.columns ?? DEFAULT_COLUMNS) - 1));
    const width = visibleLength(fitted);
    stderr.write(`\r${fitted}${' '.repeat(Math.max(0, drawnWidth - width))}`);
    drawnWidth = width;
    drawnAt = Date.now();
  };
  const clear = (): void => {
    if (drawnWidth > 0) stderr.write(`\r${' '.repeat(drawnWidth)}\r`);
    drawnWidth = 0;
  };
  return {
    onRunStart({ plan }) {
      if (plan !== null) stderr.write(`${prefix} ${plan}\n`);
    },
    onCallStart({ cell, running, done, total }) {
      if (tty) draw(`${prefix} ${done}/${total} done, ${running} running (${printable(cell.id)})`);
    },
    onCallProgress(progress) {
      if (!tty || Date.now() - drawnAt < REDRAW_INTERVAL_MS) return;
      const elapsed = `${(progress.elapsedMs / 1000).toFixed(1)} s`;
      draw(
        style.dim(
          `${prefix} ${progress.phase.padEnd(10)} ${elapsed}  ${progress.audioFramesSent}/${progress.audioFrames} audio frames  ` +
            `sent ${progress.framesSent}  received ${progress.framesReceived}`,
        ),
      );
    },
    onCallEnd({ result, done, total }) {
      // The call's own findings so far: the gate judges crash lines printed meanwhile at the end.
      const failedNow = result.findings.length > 0;
      if (failedNow) failed += 1;
      const mark = failedNow ? style.red('FAIL') : style.green('pass');
      if (tty) draw(`${prefix} ${done}/${total} done, ${failed} failed (last: ${printable(result.id)} ${mark})`);
      else stderr.write(`${prefix} [${done}/${total}] ${mark} ${printable(result.id)}\n`);
    },
    onRunEnd() {
      clear();
    },
    onRunFailure() {
      clear();
    },
  };
}
