// The live progress line on stderr, for replay and gate alike: on a terminal one line that
// overwrites itself; elsewhere (CI logs) one line per finished call, never a carriage return.
import type { Reporter, ReporterContext } from './reporter.js';

/** Redraws from a call's own progress events at most this often. */
const REDRAW_INTERVAL_MS = 100;
const CLEAR_LINE = '\r\u001b[2K';

export function progressReporter(context: ReporterContext): Reporter {
  const { stderr, style } = context;
  const prefix = `callsim ${context.command}:`;
  const tty = stderr.isTTY === true;
  let drawn = false;
  let drawnAt = 0;
  let failed = 0;
  const draw = (text: string): void => {
    stderr.write(`${CLEAR_LINE}${text}`);
    drawn = true;
    drawnAt = Date.now();
  };
  const clear = (): void => {
    if (drawn) stderr.write(CLEAR_LINE);
    drawn = false;
  };
  return {
    onRunStart({ plan }) {
      if (plan !== null) stderr.write(`${prefix} ${plan}\n`);
    },
    onCallStart({ cell, running, done, total }) {
      if (tty) draw(`${prefix} ${done}/${total} done, ${running} running (${cell.id})`);
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
      if (tty) draw(`${prefix} ${done}/${total} done, ${failed} failed (last: ${result.id} ${mark})`);
      else stderr.write(`${prefix} [${done}/${total}] ${mark} ${result.id}\n`);
    },
    onRunEnd() {
      clear();
    },
    onRunFailure() {
      clear();
    },
  };
}
