#!/usr/bin/env node
// Planted fault for `callsim load`: a server that is fine with a few calls and falls over with
// more, as one does whose per-frame work is synchronous (a blocking logger, a sync call to a
// slow service): above N live calls it blocks its event loop 30 ms for every caller frame. It
// blocks asleep (Atomics.wait), as on I/O, not spinning: on a 2-core machine a spinning server
// would take the caller's CPU too. Its agent answers each frame with the same frame (an echo),
// so the caller hears the stall at once. With no --slow-above it never blocks: the healthy twin.
//
//   node test/servers/slow-above.mjs --port 0 --slow-above 40   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

const BLOCK_MS = 30;

const sleeper = new Int32Array(new SharedArrayBuffer(4));

function blockFor(ms) {
  // Nothing else on this event loop runs meanwhile.
  Atomics.wait(sleeper, 0, 0, ms);
}

/** `slowAbove`: live calls beyond which every frame blocks; Infinity never blocks. */
export function start({ port = 0, host = '127.0.0.1', slowAbove = Number.POSITIVE_INFINITY } = {}) {
  let live = 0;
  return listen({
    port,
    host,
    onConnection: (ws) => {
      let streamSid = null;
      let counted = false;
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString());
        if (msg.event === 'start') {
          streamSid = msg.start.streamSid;
          counted = true;
          live += 1;
        } else if (msg.event === 'media') {
          if (live > slowAbove) blockFor(BLOCK_MS);
          ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload: msg.media.payload } }));
        } else if (msg.event === 'stop') ws.close(1000, 'stream stopped');
      });
      ws.on('close', () => {
        if (counted) live -= 1;
      });
    },
  });
}

const flag = process.argv.indexOf('--slow-above');
const slowAbove = flag > 0 ? Number(process.argv[flag + 1]) : Number.POSITIVE_INFINITY;
// runIfMain parses --port/--host only; the rest of argv is ours.
await runIfMain(import.meta.url, (args) => start({ ...args, slowAbove }));
