// A first-in first-out queue for the per-frame paths: it dequeues by moving a head index, never
// Array#shift (which moves every remaining item), and drops the consumed prefix now and then.

/** Consumed items kept before the array is cut down to what is still queued. */
const COMPACT_AFTER = 1024;

export class Fifo<T> {
  private items: T[];
  private head: number;

  constructor() {
    this.items = [];
    this.head = 0;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item, left in the queue; undefined when empty. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** Removes and returns the oldest item; undefined when empty. */
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.head += 1;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > COMPACT_AFTER) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Empties the queue and lets go of everything in it. */
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}
