// The uplink: caller audio on its way to the model. Each frame goes straight to an open session
// (its base64 unchanged: the model takes g711 mu-law as Twilio sends it); while the session
// connects, reconnects or lags, frames wait in order and are flushed when it can take them, never
// dropped. Optionally frames are batched into fewer, larger appends. A queue past its bound means
// the model is not coming back: the call ends, the waiting audio counted as unsent. Each append's
// wait (read from Twilio -> handed to the model socket) goes to the server's forwarding histogram.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../log.js';
import type { ModelBridge } from '../../model/bridge.js';
import { FRAME_BYTES } from '../../audio/format.js';
import { CLOSE_CODE } from '../close-code.js';
import type { CallEnding } from './boundary.js';
import type { CallConfig } from './config.js';
import { Fifo } from './fifo.js';
import type { CallRecord } from './record.js';

/** Where the uplink sends: the model link, as far as the uplink needs it. */
export interface UplinkTarget {
  /** The session, when audio can go to it now. */
  readonly openBridge: ModelBridge | null;
  readonly bridgeState: string;
}

export type UplinkConfig = Pick<CallConfig, 'modelAppendFrames' | 'modelHighWaterBytes' | 'modelBacklogBytes' | 'modelBacklogChunks' | 'maxPendingModelChunks'>;

export class Uplink {
  /** Caller audio waiting for the model (while it connects, reconnects or lags); never dropped. */
  private readonly pending: Fifo<string>;
  /** performance.now() each pending chunk's oldest frame was read at, in step with `pending`. */
  private readonly pendingSince: Fifo<number>;
  /** With modelAppendFrames > 1: caller audio being gathered into one append. */
  private readonly batch: Buffer | null;
  private batchBytes: number;
  private batchFrames: number;
  /** When the batch's first frame was read. */
  private batchSince: number;
  /** Audio still waiting when the call ended, released but reported; null while the call runs. */
  private unsent: number | null;

  constructor(
    private readonly config: UplinkConfig,
    private readonly target: UplinkTarget,
    private readonly record: CallRecord,
    private readonly logger: Logger,
    /** Ended when the queue passes maxPendingModelChunks. */
    private readonly call: CallEnding,
  ) {
    this.pending = new Fifo();
    this.pendingSince = new Fifo();
    this.batch = config.modelAppendFrames > 1 ? Buffer.alloc(FRAME_BYTES * config.modelAppendFrames) : null;
    this.batchBytes = 0;
    this.batchFrames = 0;
    this.batchSince = 0;
    this.unsent = null;
  }

  /** Chunks waiting for the model; after the call ended, the ones that never reached it. */
  get queuedChunks(): number {
    return this.unsent ?? this.pending.size;
  }

  /** One accepted caller frame: valid base64 of `bytes` bytes, read from Twilio at `readAt` (performance.now(); default now). */
  forward(payload: string, bytes: number, readAt: number = performance.now()): void {
    if (++this.record.counters.modelAudioAppends === 1) this.record.firstMediaIn(readAt);
    const batch = this.batch;
    if (batch === null) {
      this.send(payload, readAt);
      return;
    }
    if (this.batchBytes + bytes > batch.length) this.flushBatch();
    if (bytes > batch.length) {
      this.send(payload, readAt);
      return;
    }
    if (this.batchFrames === 0) this.batchSince = readAt;
    this.batchBytes += batch.write(payload, this.batchBytes, 'base64');
    this.batchFrames += 1;
    if (this.batchFrames >= this.config.modelAppendFrames) this.flushBatch();
  }

  /** Appends queued audio, in order, while the session is open and its socket not backed up. */
  flush(): void {
    const bridge = this.target.openBridge;
    if (bridge === null) return;
    const highWater = this.config.modelHighWaterBytes;
    const queue = this.pending;
    const metrics = this.record.metrics;
    while (queue.size > 0 && bridge.bufferedAmount <= highWater) {
      // A socket already closing takes nothing: the audio stays queued for the next session.
      if (!bridge.appendAudio(queue.peek() as string)) break;
      queue.shift();
      metrics.forwarded((performance.now() - (this.pendingSince.shift() as number)) / 1000);
    }
    this.checkSocketBacklog(bridge);
  }

  /**
   * The call is ending: a partial batch goes out (or is counted) like any other caller audio,
   * then what still waits is released and kept as a count. Returns that count.
   */
  finish(): number {
    this.flushBatch();
    const unsent = this.pending.size;
    this.unsent = unsent;
    this.pending.clear();
    this.pendingSince.clear();
    return unsent;
  }

  private flushBatch(): void {
    if (this.batch === null || this.batchBytes === 0) return;
    const chunk = this.batch.toString('base64', 0, this.batchBytes);
    this.batchBytes = 0;
    this.batchFrames = 0;
    this.send(chunk, this.batchSince);
  }

  /** `since`: when the oldest frame in `payload` was read. */
  private send(payload: string, since: number): void {
    // The usual case, nothing waiting and the model keeping up: straight through, no queue.
    const bridge = this.target.openBridge;
    if (this.pending.size === 0 && bridge !== null && bridge.bufferedAmount <= this.config.modelHighWaterBytes && bridge.appendAudio(payload)) {
      this.record.metrics.forwarded((performance.now() - since) / 1000);
      this.checkSocketBacklog(bridge);
      return;
    }
    this.pending.push(payload);
    this.pendingSince.push(since);
    this.flush();
    const waiting = this.pending.size;
    if (waiting > this.config.maxPendingModelChunks) {
      this.record.recordError('model_backlog_overflow', `${waiting} chunks of caller audio waiting for the model (limit ${this.config.maxPendingModelChunks})`);
      this.logger.error('model not taking audio; ending call', { callSid: this.record.callSid, queuedChunks: waiting, modelState: this.target.bridgeState });
      this.call.close('model backlog overflow', CLOSE_CODE.internalError);
    } else if (waiting > this.config.modelBacklogChunks) {
      this.record.warnBacklog('toModel', `${waiting} chunks waiting for the model session`, waiting);
    }
  }

  private checkSocketBacklog(bridge: ModelBridge): void {
    if (bridge.bufferedAmount > this.config.modelBacklogBytes) {
      this.record.warnBacklog('toModel', `${bridge.bufferedAmount} bytes buffered on the model socket`, this.pending.size);
    }
  }
}
