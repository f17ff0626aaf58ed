// A generator worker thread: a GeneratorCore answering the ramp's requests over its port.
import { parentPort } from 'node:worker_threads';
import { GeneratorCore } from './generator-core.js';
import type { WorkerRequest, WorkerResponse } from './protocol.js';

const port = parentPort;
if (port === null) throw new Error('src/load/worker.ts runs as a worker thread');
const core = new GeneratorCore();
port.on('message', (request: WorkerRequest) => {
  Promise.resolve()
    .then(() => core.handle(request))
    .then(
      (result) => port.postMessage({ id: request.id, ok: true, result: result ?? null } satisfies WorkerResponse),
      (err: unknown) => port.postMessage({ id: request.id, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies WorkerResponse),
    )
    .then(() => {
      if (request.cmd === 'close') port.close();
    });
});
