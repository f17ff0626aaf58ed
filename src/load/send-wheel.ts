// One drift-free clock for every call of a worker: a 20-slot wheel, 1 ms a slot. A call joins a
// slot (round-robin, so the slots stay equally loaded however the opens bunch up) and is ticked
// each time its slot comes due. Due times are absolute (+= 20 ms), so the schedule never drifts;
// a late wake-up sends everything that fell due, in order. How late each slot ran is the
// generator's own timing: the figure that says whether a slow caller, not a slow server, is
// being measured.
import { FRAME_MS } from '../audio/format.js';
import { newHistogram } from './histogram.js';

const SLOTS = FRAME_MS; // 1 ms per slot

export interface WheelCall {
  readonly index: number;
  tick(now: number): void;
}

export class SendWheel<C extends WheelCall> {
  private readonly slots: C[][] = Array.from({ length: SLOTS }, () => []);
  private readonly due = new Float64Array(SLOTS);
  private next = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** How late each frame's slot ran after it was due, ms (one sample per call per frame). */
  readonly slip = newHistogram('sendSlip');
  measuring = false;

  start(): void {
    if (this.running) return;
    const t0 = Math.ceil(performance.now()) + 1;
    for (let i = 0; i < SLOTS; i++) this.due[i] = t0 + i;
    this.next = 0;
    this.running = true;
    this.arm();
  }

  add(call: C): void {
    this.slots[call.index % SLOTS]!.push(call);
  }

  /** Drops every call (the step is over); the clock keeps running for the next step. */
  clear(): void {
    for (const slot of this.slots) slot.length = 0;
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.clear();
  }

  private arm(): void {
    if (!this.running) return;
    const wait = this.due[this.next]! - performance.now();
    this.timer = setTimeout(this.run, wait > 0 ? wait : 0);
  }

  private readonly run = (): void => {
    this.timer = null;
    let now = performance.now();
    while (this.due[this.next]! <= now) {
      const i = this.next;
      const slot = this.slots[i]!;
      if (this.measuring && slot.length > 0) this.slip.recordMany(now - this.due[i]!, slot.length);
      for (let c = 0; c < slot.length; c++) slot[c]!.tick(now);
      this.due[i]! += FRAME_MS;
      this.next = (i + 1) % SLOTS;
      now = performance.now();
    }
    this.arm();
  };
}
