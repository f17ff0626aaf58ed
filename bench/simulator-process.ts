// Child process: the OpenAI-Realtime model simulator on its own, so the media server's CPU
// excludes the model's. It also hosts the inbound latency probe: each appended chunk carries the
// client's send time (see stampBase64), read back here against the same monotonic clock.
import { startRealtimeSimulator, type RunningSimulator } from '../src/model/simulator.js';
import { Histogram, SelfMeter, monoMicros, readStamp, serveRpc, type ProcWindowStats, type Summary } from './shared.js';

export interface SimulatorStartArgs {
  answerMs: number;
  /** The run's epoch on the monotonic clock, in µs (stamps are relative to it). */
  epochMicros: number;
}

export interface SimulatorWindowStats extends ProcWindowStats {
  appends: number;
  /** Client send → input_audio_buffer.append arriving here, in ms (through the media server). */
  forwardLatencyMs: Summary;
  unstamped: number;
}

const meter = new SelfMeter();
const latency = new Histogram(0.05, 5000);
let simulator: RunningSimulator | null = null;
let measuring = false;
let appends = 0;
let unstamped = 0;
let epoch = 0;

serveRpc({
  start: async (raw) => {
    const args = raw as SimulatorStartArgs;
    epoch = args.epochMicros;
    simulator = await startRealtimeSimulator({
      port: 0,
      answerMs: args.answerMs,
      onAppend: (_callSid, audio) => {
        if (!measuring) return;
        appends += 1;
        const stamp = readStamp(audio);
        if (stamp < 0) unstamped += 1;
        else latency.record((monoMicros() - epoch - stamp) / 1000);
      },
    });
    return { baseURL: simulator.baseURL };
  },
  windowStart: () => {
    latency.reset();
    appends = 0;
    unstamped = 0;
    measuring = true;
    meter.windowStart();
  },
  windowEnd: (): SimulatorWindowStats => {
    measuring = false;
    return { ...meter.windowEnd(), appends, forwardLatencyMs: latency.summary(), unstamped };
  },
  exit: async () => {
    await simulator?.close();
    setTimeout(() => process.exit(0), 50);
  },
});
