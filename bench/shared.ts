// Pieces every benchmark process shares: the IPC request/response plumbing, a fixed-bin
// histogram (cheap enough to record every frame), process self-measurement, the latency stamp
// the client writes into frames, and the call audio.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { FRAME_BYTES, FRAME_MS, MULAW_SILENCE } from '../src/audio/format.js';
import { floatToMulaw } from '../src/audio/g711.js';
import { synthesizeSpeechLike } from '../src/audio/synth.js';
import { loadWavAsMulawFrames } from '../src/audio/wav.js';

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

// ---- histogram ------------------------------------------------------------------------------

export interface Summary {
  count: number;
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** Fixed-width bins (allocation-free record); values beyond the top land in the last bin but max stays exact. */
export class Histogram {
  private readonly bins: Uint32Array;
  count = 0;
  sum = 0;
  max = 0;

  constructor(
    private readonly binWidth: number,
    top: number,
  ) {
    this.bins = new Uint32Array(Math.ceil(top / binWidth) + 1);
  }

  record(value: number): void {
    const v = value < 0 ? 0 : value;
    let bin = Math.floor(v / this.binWidth);
    if (bin >= this.bins.length) bin = this.bins.length - 1;
    this.bins[bin]! += 1;
    this.count += 1;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  reset(): void {
    this.bins.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  /** Upper edge of the bin holding the p-th percentile (conservative), capped at max. */
  percentile(p: number): number {
    if (this.count === 0) return 0;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i]!;
      if (seen >= rank) return Math.min((i + 1) * this.binWidth, this.max);
    }
    return this.max;
  }

  summary(): Summary {
    const r = (v: number): number => Math.round(v * 1000) / 1000;
    return { count: this.count, mean: r(this.count ? this.sum / this.count : 0), p50: r(this.percentile(50)), p99: r(this.percentile(99)), max: r(this.max) };
  }
}

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
// The client writes its send time into the first STAMP_BYTES of each frame's audio; the model
// simulator reads it back on input_audio_buffer.append. Every stamp byte is 0xF0|nibble, a
// mu-law code within ~0.4% of zero, so silence stays silence for the simulator's VAD. 15 bytes
// is a multiple of 3, so the stamp's base64 is a clean 20-character prefix of the payload.

export const STAMP_BYTES = 15;
const STAMP_MAGIC = [0xa, 0x5, 0xc];
const STAMP_VALUE_NIBBLES = 12; // 48 bits of microseconds since the run's epoch (~9 years)

// CLOCK_MONOTONIC in µs: one clock for every process on the machine, unlike Date.now() or
// performance.timeOrigin. performance.now() runs on the same clock, so one offset read at start
// turns it into machine-wide monotonic time without an hrtime() array per frame.
const [hrS, hrNs] = process.hrtime();
const MONO_OFFSET_MICROS = hrS * 1e6 + hrNs / 1e3 - performance.now() * 1e3;

export function monoMicros(): number {
  return MONO_OFFSET_MICROS + performance.now() * 1e3;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
// base64 of three stamp bytes (0xF0|a, 0xF0|b, 0xF0|c), by the 12-bit value abc.
const TRIPLE_B64: string[] = (() => {
  const table: string[] = new Array<string>(4096);
  for (let v = 0; v < 4096; v++) {
    const b0 = 0xf0 | (v >> 8);
    const b1 = 0xf0 | ((v >> 4) & 0xf);
    const b2 = 0xf0 | (v & 0xf);
    const n = (b0 << 16) | (b1 << 8) | b2;
    table[v] = B64[(n >> 18) & 63]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  return table;
})();
const MAGIC_B64 = TRIPLE_B64[(STAMP_MAGIC[0]! << 8) | (STAMP_MAGIC[1]! << 4) | STAMP_MAGIC[2]!]!;

/** base64 of the 15 stamp bytes carrying `micros` (since the epoch). */
export function stampBase64(micros: number): string {
  const v = Math.max(0, Math.round(micros));
  // 48 bits as two 24-bit halves: plain bit operators only reach 32 bits.
  const hi = Math.floor(v / 0x1000000) & 0xffffff;
  const lo = v & 0xffffff;
  return MAGIC_B64 + TRIPLE_B64[hi >> 12]! + TRIPLE_B64[hi & 0xfff]! + TRIPLE_B64[lo >> 12]! + TRIPLE_B64[lo & 0xfff]!;
}

/** The stamp in decoded audio, or -1 when the frame carries none. */
export function readStamp(audio: Uint8Array): number {
  if (audio.length < STAMP_BYTES || audio[0] !== (0xf0 | STAMP_MAGIC[0]!) || audio[1] !== (0xf0 | STAMP_MAGIC[1]!) || audio[2] !== (0xf0 | STAMP_MAGIC[2]!)) return -1;
  let v = 0;
  for (let i = 0; i < STAMP_VALUE_NIBBLES; i++) {
    const b = audio[3 + i]!;
    if ((b & 0xf0) !== 0xf0) return -1;
    v = v * 16 + (b & 0xf);
  }
  return v;
}

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

export interface CallAudio {
  name: string;
  /** base64 of bytes STAMP_BYTES..160 of each frame; the payload is stamp + tail. */
  tails: string[];
  frames: number;
}

/**
 * The caller's side of a conversation, looped: the hello fixture (speech 200-1100 ms, then
 * silence) plus padSilenceMs more silence, so the simulator's VAD ends the turn and the model's
 * answer plays out before the caller speaks again (no barge-in, a steady talk/listen rhythm).
 */
export function loadCallAudio(padSilenceMs: number): CallAudio {
  const path = `${REPO_ROOT}fixtures/hello-8k-mulaw.wav`;
  let frames: Buffer[];
  let name: string;
  if (existsSync(path)) {
    frames = loadWavAsMulawFrames(path).frames;
    name = 'fixtures/hello-8k-mulaw.wav';
  } else {
    // Same shape as the fixture, synthesised in memory when the file is not there.
    const samples = synthesizeSpeechLike({ durationMs: 2000, sampleRate: 8000, seed: 1, utterances: [{ startMs: 200, endMs: 1100 }] });
    const all = floatToMulaw(samples);
    frames = [];
    for (let off = 0; off + FRAME_BYTES <= all.length; off += FRAME_BYTES) frames.push(all.subarray(off, off + FRAME_BYTES));
    name = 'synthesised speech-like 2 s (200-1100 ms)';
  }
  const silence = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
  const pad = Math.round(padSilenceMs / FRAME_MS);
  for (let i = 0; i < pad; i++) frames.push(silence);
  return {
    name: `${name} + ${padSilenceMs} ms silence, looped`,
    tails: frames.map((f) => f.subarray(STAMP_BYTES).toString('base64')),
    frames: frames.length,
  };
}

