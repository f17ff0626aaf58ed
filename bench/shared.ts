// Pieces every benchmark process shares: the IPC request/response plumbing, process
// self-measurement, the forwarding-latency probe, and, from callsim load, its histogram, the
// latency stamp the client writes into frames and the call audio.
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { loadCallAudio as loadLoadCallAudio, type CallAudio } from '../src/load/call-audio.js';
import { Histogram, type Summary } from '../src/load/histogram.js';
import { STAMP_BYTES, monoMicros, readStamp, stampBase64 } from '../src/load/stamp.js';

/** Repository root, from dist/bench/*.js or bench/*.ts alike. */
export const REPO_ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/bench/') ? '../../' : '../', import.meta.url));


// ---- IPC ------------------------------------------------------------------------------------

export interface RpcRequest {
  rpc: number;
  cmd: string;
  args?: unknown;
}

export type RpcResponse = { rpc: number; ok: true; result: unknown } | { rpc: number; ok: false; error: string };

/** Child side: answer the parent's requests; exits when the parent goes away. */
export function serveRpc(handlers: Record<string, (args: unknown) => unknown>): void {
  process.on('message', (raw: unknown) => {
    const req = raw as RpcRequest;
    if (typeof req !== 'object' || req === null || typeof req.rpc !== 'number') return;
    const handler = handlers[req.cmd];
    const reply = (msg: RpcResponse): void => {
      if (process.connected) process.send?.(msg);
    };
    if (handler === undefined) {
      reply({ rpc: req.rpc, ok: false, error: `unknown command ${req.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(req.args))
      .then(
        (result) => reply({ rpc: req.rpc, ok: true, result: result ?? null }),
        (err: unknown) => reply({ rpc: req.rpc, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
  // An orphaned child would keep sockets and CPU busy for the next step.
  process.on('disconnect', () => process.exit(0));
}

/** Parent side: one request, one answer. */
export class RpcClient {
  private seq = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();

  constructor(readonly child: ChildProcess, readonly name: string) {
    child.on('message', (raw: unknown) => {
      const msg = raw as RpcResponse;
      const waiter = this.pending.get(msg.rpc);
      if (waiter === undefined) return;
      this.pending.delete(msg.rpc);
      if (msg.ok) waiter.resolve(msg.result);
      else waiter.reject(new Error(`${name}: ${msg.error}`));
    });
    child.on('exit', (code, signal) => {
      for (const waiter of this.pending.values()) waiter.reject(new Error(`${name} exited (${code ?? signal ?? '?'})`));
      this.pending.clear();
    });
  }

  call<T>(cmd: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
    const rpc = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rpc);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rpc, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ rpc, cmd, args } satisfies RpcRequest);
    });
  }
}

// ---- histogram ----------------------------------------------------------------------------
// callsim load's (src/load/histogram.ts): a figure with no sample is null, never 0.
export { Histogram, type Summary };

// ---- self-measurement -----------------------------------------------------------------------

export interface ProcWindowStats {
  wallMs: number;
  /** CPU (user + system) over the window. */
  cpuMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  /** Resident memory at the end of the window, and at process start (before any call). */
  rssBytes: number;
  rssIdleBytes: number;
  heapUsedBytes: number;
  /** Event-loop lag beyond the sampling timer, over the window (ms). */
  eldP50Ms: number;
  eldP99Ms: number;
  eldMaxMs: number;
}

const ELD_RESOLUTION_MS = 10;

/** Measures the current process between windowStart() and windowEnd(). */
export class SelfMeter {
  private readonly eld: IntervalHistogram;
  private readonly rssIdle: number;
  private startCpu: NodeJS.CpuUsage = process.cpuUsage();
  private startWall = performance.now();

  constructor() {
    this.eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
    this.eld.enable();
    this.rssIdle = process.memoryUsage.rss();
  }

  windowStart(): void {
    this.eld.reset();
    this.startCpu = process.cpuUsage();
    this.startWall = performance.now();
  }

  windowEnd(): ProcWindowStats {
    const cpu = process.cpuUsage(this.startCpu);
    const wallMs = performance.now() - this.startWall;
    // The histogram records whole timer intervals; the lag is what exceeds the resolution.
    const lag = (ns: number): number => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
    const mem = process.memoryUsage();
    return {
      wallMs,
      cpuMs: (cpu.user + cpu.system) / 1000,
      cpuUserMs: cpu.user / 1000,
      cpuSystemMs: cpu.system / 1000,
      rssBytes: mem.rss,
      rssIdleBytes: this.rssIdle,
      heapUsedBytes: mem.heapUsed,
      eldP50Ms: this.eld.count > 0 ? lag(this.eld.percentile(50)) : 0,
      eldP99Ms: this.eld.count > 0 ? lag(this.eld.percentile(99)) : 0,
      eldMaxMs: this.eld.count > 0 ? lag(this.eld.max) : 0,
    };
  }
}

// ---- latency stamp --------------------------------------------------------------------------
// The send-time stamp and the machine-wide clock are callsim load's own (src/load/stamp.ts).
export { STAMP_BYTES, monoMicros, readStamp, stampBase64, type CallAudio };

// ---- call audio -----------------------------------------------------------------------------

/** Forwarding-latency stats of one window: stamped appends as the model simulator saw them. */
export interface AppendProbeStats {
  appends: number;
  /** Client send → input_audio_buffer.append arriving at the simulator, in ms (through the media server). */
  forwardLatencyMs: Summary;
  unstamped: number;
}

/** The simulator's onAppend hook: reads each chunk's send stamp back against the same clock. */
export class AppendProbe {
  private readonly latency = new Histogram(0.05, 5000);
  private measuring = false;
  private appends = 0;
  private unstamped = 0;

  constructor(private readonly epochMicros: number) {}

  readonly onAppend = (_callSid: string | null, audio: Buffer): void => {
    if (!this.measuring) return;
    this.appends += 1;
    const stamp = readStamp(audio);
    if (stamp < 0) this.unstamped += 1;
    else this.latency.record((monoMicros() - this.epochMicros - stamp) / 1000);
  };

  windowStart(): void {
    this.latency.reset();
    this.appends = 0;
    this.unstamped = 0;
    this.measuring = true;
  }

  windowEnd(): AppendProbeStats {
    this.measuring = false;
    return { appends: this.appends, forwardLatencyMs: this.latency.summary(), unstamped: this.unstamped };
  }
}

/** The caller's side of a conversation, looped: the hello fixture (speech 200-1100 ms, then
 * silence) plus padSilenceMs more silence, so the simulator's VAD ends the turn and the model's
 * answer plays out before the caller speaks again (no barge-in, a steady talk/listen rhythm).
 */
export function loadCallAudio(padSilenceMs: number): CallAudio {
  return loadLoadCallAudio(`${REPO_ROOT}fixtures/hello-8k-mulaw.wav`, padSilenceMs);
}
