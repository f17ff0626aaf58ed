// Child process: the OpenAI-Realtime model simulator on its own (`--simulator process`), so the
// media server's CPU excludes the model's. It also hosts the inbound latency probe: each appended
// chunk carries the client's send time (see stampBase64), read back here against the same
// monotonic clock.
import { startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator/simulator.js';
import { AppendProbe, SelfMeter, serveRpc, type AppendProbeStats, type ProcWindowStats } from './shared.js';

export interface SimulatorStartArgs {
  answerMs: number;
  /** The run's epoch on the monotonic clock, in µs (stamps are relative to it). */
  epochMicros: number;
}

export type SimulatorWindowStats = ProcWindowStats & AppendProbeStats;

const meter = new SelfMeter();
let probe: AppendProbe | null = null;
let simulator: RunningSimulator | null = null;

serveRpc({
  start: async (raw) => {
    const args = raw as SimulatorStartArgs;
    probe = new AppendProbe(args.epochMicros);
    simulator = await startRealtimeSimulator({ port: 0, answerMs: args.answerMs, onAppend: probe.onAppend });
    return { baseURL: simulator.baseURL };
  },
  windowStart: () => {
    probe?.windowStart();
    meter.windowStart();
  },
  windowEnd: (): SimulatorWindowStats => {
    const stats = meter.windowEnd();
    return { ...stats, ...probe!.windowEnd() };
  },
  exit: async () => {
    await simulator?.close();
    setTimeout(() => process.exit(0), 50);
  },
});
