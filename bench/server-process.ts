// Child process: the media server. With `--simulator embedded` (the default) it is `callsim serve`
// as shipped, the realtime simulator inside it, so this process's CPU is server plus model; with
// `--simulator process` the simulator runs in its own process, reached by URL, and this
// process's CPU, memory and event-loop lag are the server's alone.
import { startMediaServer, type RunningMediaServer } from '../src/server/media-server.js';
import { AppendProbe, SelfMeter, serveRpc, type AppendProbeStats, type ProcWindowStats } from './shared.js';

export interface ServerStartArgs {
  /** The simulator process's base URL, or null to run the embedded simulator. */
  simulatorUrl: string | null;
  /** Embedded simulator: length of each answer. */
  answerMs: number;
  /** Embedded simulator: the run's epoch on the monotonic clock, in µs (for the latency probe). */
  epochMicros: number;
  /** serve --model-batch-frames. */
  modelAppendFrames: number;
}

export interface ServerWindowStats extends ProcWindowStats {
  /** Twilio media frames the server accepted during the window (sum of audioInChunks). */
  framesIn: number;
  framesOut: number;
  liveCalls: number;
  /** Embedded simulator only: the forwarding-latency probe. */
  probe: AppendProbeStats | null;
}

const meter = new SelfMeter();
let server: RunningMediaServer | null = null;
let probe: AppendProbe | null = null;
let startIn = 0;
let startOut = 0;

function totals(): { framesIn: number; framesOut: number } {
  let framesIn = 0;
  let framesOut = 0;
  for (const call of server?.calls() ?? []) {
    framesIn += call.counters.audioInChunks;
    framesOut += call.counters.audioOutChunks;
  }
  return { framesIn, framesOut };
}

serveRpc({
  start: async (raw) => {
    const args = raw as ServerStartArgs;
    if (args.simulatorUrl === null) probe = new AppendProbe(args.epochMicros);
    server = await startMediaServer({
      port: 0,
      quiet: true,
      model:
        args.simulatorUrl === null
          ? { backend: 'simulator', simulator: { answerMs: args.answerMs, onAppend: probe!.onAppend } }
          : { backend: 'simulator', url: args.simulatorUrl },
      call: { modelAppendFrames: args.modelAppendFrames },
      // Every call of a step must still be on GET /calls when the bench checks its counters.
      keepFinishedCalls: 1_000_000,
      maxCalls: 1_000_000,
    });
    return { port: server.port, httpUrl: server.httpUrl, wsUrl: server.wsUrl };
  },
  windowStart: () => {
    ({ framesIn: startIn, framesOut: startOut } = totals());
    probe?.windowStart();
    meter.windowStart();
  },
  windowEnd: (): ServerWindowStats => {
    const stats = meter.windowEnd();
    const now = totals();
    return {
      ...stats,
      framesIn: now.framesIn - startIn,
      framesOut: now.framesOut - startOut,
      liveCalls: server?.liveCalls() ?? 0,
      probe: probe?.windowEnd() ?? null,
    };
  },
  exit: async () => {
    await server?.close();
    // Leave after the reply is out; --cpu-prof writes its profile on a normal exit.
    setTimeout(() => process.exit(0), 50);
  },
});
