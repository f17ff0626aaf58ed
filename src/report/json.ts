// The whole result as JSON, for machines: the gate's result, or the replay's own report. Call
// timelines are large (a level per 20 ms frame, both ways) and left out unless asked for
// (`--timeline`). A run that never got a result is written too: verdict "error" and why.
import type { CallTimelineData } from '../caller/timeline.js';
import type { GateCallResult } from '../gate/gate.js';
import { writeReport, type Reporter, type ReporterContext } from './reporter.js';

export function jsonReporter(context: ReporterContext): Reporter {
  // By the call's own result object: the gate's final result holds the same objects.
  const timelines = new Map<GateCallResult, CallTimelineData>();
  const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  return {
    onCallEnd({ result, report }) {
      if (context.timeline && report !== null) timelines.set(result, report.timeline);
    },
    async onRunEnd(run) {
      if (run.replay !== null) {
        const { timeline: _timeline, ...withoutTimeline } = run.replay;
        await writeReport(context, json(context.timeline ? run.replay : withoutTimeline));
        return;
      }
      const result = context.timeline ? { ...run.result, calls: run.result.calls.map((call) => ({ ...call, timeline: timelines.get(call) ?? null })) } : run.result;
      await writeReport(context, json(result));
    },
    async onRunFailure(failure) {
      await writeReport(context, json({ verdict: 'error', command: context.command, error: failure.message, interrupted: failure.interrupted, target: failure.target, output: failure.output }));
    },
  };
}
