// The one counter renderer: a server counter as text, and the server-vs-wire rows beside what
// the fake Twilio counted itself. The gate's table and the replay's view both use it.
import type { CallSummary, ReplayReport, ServerStats } from '../caller/replay.js';
import { padStartVisible } from '../text/columns.js';
import type { Style } from '../text/style.js';

/** A server counter that has a twin the caller counts on the wire. */
export interface WireTwin {
  label: string;
  counter: string;
  wire: (call: CallSummary) => number;
}

export const WIRE_TWINS: readonly WireTwin[] = [
  { label: 'media in (caller → server)', counter: 'audioInChunks', wire: (call) => call.framesSent },
  { label: 'media out (server → caller)', counter: 'audioOutChunks', wire: (call) => call.framesReceived },
  { label: 'marks sent / received', counter: 'marksSent', wire: (call) => call.marksReceived },
  { label: 'marks echoed back', counter: 'marksReceived', wire: (call) => call.marksEchoed },
  { label: 'clears', counter: 'clearsSent', wire: (call) => call.clearsReceived },
  { label: 'dtmf digits', counter: 'dtmfReceived', wire: (call) => call.dtmfDigitsSent.length },
];

/**
 * A server counter as shown: `-` the server gave no stats at all, `—` it gave stats without this
 * counter (missing, not broken), red `null` a value that was not a finite number (JSON turns NaN
 * into null, and the report keeps it so).
 */
export function counterText(counters: ServerStats['counters'], name: string, style: Style): string {
  if (counters === null) return '-';
  const value = counters[name];
  if (value === undefined) return style.dim('—');
  return value === null ? style.red('null') : String(value);
}

const LABEL_WIDTH = 30;
const VALUE_WIDTH = 10;

/** The replay's counter table: each wire twin (yellow where the two disagree), then the rest. */
export function counterRows(report: ReplayReport, style: Style): string[] {
  const server = report.stats.counters;
  const rows = [style.dim(`  ${'counter'.padEnd(LABEL_WIDTH)}${'server'.padStart(VALUE_WIDTH)}${'wire'.padStart(VALUE_WIDTH)}`)];
  for (const twin of WIRE_TWINS) {
    const wire = twin.wire(report.call);
    const text = `  ${twin.label.padEnd(LABEL_WIDTH)}${padStartVisible(counterText(server, twin.counter, style), VALUE_WIDTH)}${String(wire).padStart(VALUE_WIDTH)}`;
    rows.push(server === null || server[twin.counter] === wire ? text : style.yellow(text));
  }
  if (server !== null) {
    const shown = new Set(WIRE_TWINS.map((twin) => twin.counter));
    const others = Object.keys(server)
      .filter((name) => !shown.has(name))
      .map((name) => `${name}=${counterText(server, name, style)}`);
    if (others.length > 0) rows.push(style.dim('  other server counters: ') + others.join(' '));
  }
  return rows;
}
