// A fixed-bin histogram cheap enough to record every frame (no allocation per value) and that
// merges across worker threads (its bins travel as a typed array). A figure with no sample is
// null, never 0: a latency that was never measured cannot pass a threshold.

export interface Summary {
  count: number;
  /** null when nothing was recorded. */
  mean: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/** What one histogram sends to another (postMessage copies the bins). */
export interface HistogramData {
  binWidth: number;
  bins: Uint32Array;
  count: number;
  sum: number;
  max: number;
}

export class Histogram {
  private readonly bins: Uint32Array;
  private count = 0;
  private sum = 0;
  private max = 0;

  /** Values from 0 to `top` in bins of `binWidth`; larger ones land in the last bin, but max stays exact. */
  constructor(
    readonly binWidth: number,
    top: number,
  ) {
    this.bins = new Uint32Array(Math.ceil(top / binWidth) + 1);
  }

  get size(): number {
    return this.count;
  }

  record(value: number): void {
    this.recordMany(value, 1);
  }

  /** `n` samples of the same value at once. */
  recordMany(value: number, n: number): void {
    const v = value > 0 ? value : 0;
    let bin = Math.floor(v / this.binWidth);
    if (bin >= this.bins.length) bin = this.bins.length - 1;
    this.bins[bin]! += n;
    this.count += n;
    this.sum += v * n;
    if (v > this.max) this.max = v;
  }

  reset(): void {
    this.bins.fill(0);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  data(): HistogramData {
    return { binWidth: this.binWidth, bins: this.bins.slice(), count: this.count, sum: this.sum, max: this.max };
  }

  merge(other: HistogramData): void {
    if (other.binWidth !== this.binWidth || other.bins.length !== this.bins.length) throw new RangeError('cannot merge histograms of different bins');
    for (let i = 0; i < other.bins.length; i++) this.bins[i]! += other.bins[i]!;
    this.count += other.count;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  /** Upper edge of the bin that holds the p-th percentile (conservative), capped at max; null when empty. */
  percentile(p: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.bins.length; i++) {
      seen += this.bins[i]!;
      if (seen >= rank) return Math.min((i + 1) * this.binWidth, this.max);
    }
    return this.max;
  }

  summary(): Summary {
    const round = (v: number | null): number | null => (v === null ? null : Math.round(v * 1000) / 1000);
    return {
      count: this.count,
      mean: round(this.count > 0 ? this.sum / this.count : null),
      p50: round(this.percentile(50)),
      p95: round(this.percentile(95)),
      p99: round(this.percentile(99)),
      max: round(this.count > 0 ? this.max : null),
    };
  }
}

/** The histograms a generator keeps, by what they measure: the same bins in every worker, so they merge. */
export const HISTOGRAM_BINS = Object.freeze({
  /** Agent frames' lateness at the caller, ms. */
  jitter: { binWidth: 0.1, top: 5000 },
  /** End of the caller's speech -> the agent's first audio, ms. */
  responseLatency: { binWidth: 5, top: 60_000 },
  /** How late the generator sent each frame after it was due, ms. */
  sendSlip: { binWidth: 0.1, top: 5000 },
  /** Caller frame sent -> its audio appended at the model, ms. */
  forwardLatency: { binWidth: 0.05, top: 5000 },
});

export type HistogramKind = keyof typeof HISTOGRAM_BINS;

export function newHistogram(kind: HistogramKind): Histogram {
  const { binWidth, top } = HISTOGRAM_BINS[kind];
  return new Histogram(binWidth, top);
}
