// The whole result as JSON, for machines: the gate's result, or the replay's own report.
import { writeReport, type Reporter, type ReporterContext } from './reporter.js';

export function jsonReporter(context: ReporterContext): Reporter {
  return {
    async onRunEnd(run) {
      await writeReport(context, `${JSON.stringify(run.replay ?? run.result, null, 2)}\n`);
    },
  };
}
