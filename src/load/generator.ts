// The ramp's side of the load generator: W worker threads (the cores it may use, by default),
// each a GeneratorCore with its share of the calls, or one core in this thread (--workers 0).
// Calls go round-robin to the workers; their window figures come back as mergeable data.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CallDirection } from '../twilio/codec.js';
import { GeneratorCore } from './generator-core.js';
import { packageRoot } from './paths.js';
import type { CallOutcome, GeneratorConfig, OpenResult, WorkerRequest, WorkerResponse, WorkerWindow } from './protocol.js';

type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

interface GeneratorHandle {
  request<T>(body: RequestBody): Promise<T>;
  terminate(): Promise<void>;
}

/** The compiled worker: beside this module when it runs from dist/, else the package's dist/ (tests run the sources). */
function workerScript(): string {
  const here = fileURLToPath(import.meta.url);
  const sibling = path.join(path.dirname(here), 'worker.js');
  if (here.endsWith('.js') && existsSync(sibling)) return sibling;
  const built = path.join(packageRoot(), 'dist', 'src', 'load', 'worker.js');
  if (!existsSync(built)) throw new Error(`the load generator's worker is not built (${built}): run npm run build, or use workers: 0`);
  return built;
}

class ThreadHandle implements GeneratorHandle {
  private seq = 0;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  private gone: Error | null = null;

  constructor(
    private readonly worker: Worker,
    readonly name: string,
  ) {
    worker.on('message', (response: WorkerResponse) => {
      const waiter = this.pending.get(response.id);
      if (waiter === undefined) return;
      this.pending.delete(response.id);
      if (response.ok) waiter.resolve(response.result);
      else waiter.reject(new Error(`${name}: ${response.error}`));
    });
    const fail = (err: Error): void => {
      this.gone ??= err;
      for (const waiter of this.pending.values()) waiter.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`${name} failed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`${name} exited (${code})`)));
  }

  request<T>(body: RequestBody): Promise<T> {
    if (this.gone !== null) return Promise.reject(this.gone);
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (value) => resolve(value as T), reject });
      this.worker.postMessage({ ...body, id } as WorkerRequest);
    });
  }

  async terminate(): Promise<void> {
    await this.request({ cmd: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}

class InThreadHandle implements GeneratorHandle {
  private readonly core = new GeneratorCore();

  async request<T>(body: RequestBody): Promise<T> {
    return (await this.core.handle({ ...body, id: 0 } as WorkerRequest)) as T;
  }

  async terminate(): Promise<void> {
    await this.request({ cmd: 'close' });
  }
}

export class LoadGenerator {
  private constructor(private readonly handles: GeneratorHandle[]) {}

  /** `workers` threads, or the calling thread when 0. */
  static async start(workers: number, config: GeneratorConfig): Promise<LoadGenerator> {
    const handles: GeneratorHandle[] =
      workers === 0 ? [new InThreadHandle()] : Array.from({ length: workers }, (_, i) => new ThreadHandle(new Worker(workerScript()), `load worker ${i + 1}`));
    const generator = new LoadGenerator(handles);
    try {
      await generator.all({ cmd: 'configure', config });
    } catch (err) {
      await generator.close();
      throw err;
    }
    return generator;
  }

  get threads(): number {
    return this.handles.length;
  }

  private all<T>(body: RequestBody): Promise<T[]> {
    return Promise.all(this.handles.map((h) => h.request<T>(body)));
  }

  /** Opens calls `first` .. `first + count - 1`, launched evenly over `rampMs`. */
  async open(first: number, count: number, directions: readonly CallDirection[], rampMs: number): Promise<OpenResult> {
    const shares = this.handles.map(() => ({ indexes: [] as number[], directions: [] as CallDirection[], launchAtMs: [] as number[] }));
    for (let k = 0; k < count; k++) {
      const index = first + k;
      const share = shares[index % shares.length]!;
      share.indexes.push(index);
      share.directions.push(directions[index % directions.length]!);
      share.launchAtMs.push(count <= 1 ? 0 : (rampMs * k) / count);
    }
    const results = await Promise.all(this.handles.map((h, i) => h.request<OpenResult>({ cmd: 'open', request: shares[i]! })));
    return {
      opened: results.reduce((a, r) => a + r.opened, 0),
      failed: results.reduce((a, r) => a + r.failed, 0),
      fellBackToDirect: results.reduce((a, r) => a + r.fellBackToDirect, 0),
      firstError: results.find((r) => r.firstError !== null)?.firstError ?? null,
      notes: [...new Set(results.flatMap((r) => r.notes))],
    };
  }

  async windowStart(): Promise<void> {
    await this.all({ cmd: 'window-start' });
  }

  windowEnd(): Promise<WorkerWindow[]> {
    return this.all<WorkerWindow>({ cmd: 'window-end' });
  }

  async hangUp(timeoutMs: number): Promise<CallOutcome[]> {
    const outcomes = await this.all<CallOutcome[]>({ cmd: 'hang-up', timeoutMs });
    return outcomes.flat().sort((a, b) => a.index - b.index);
  }

  async close(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.terminate()));
  }
}

