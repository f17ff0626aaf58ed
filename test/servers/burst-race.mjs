#!/usr/bin/env node
// Planted fault: a server whose jitter buffer assumes Twilio's real-time pacing. Each call gets
// 16 preallocated slots, drained every 20 ms (two at most, to absorb timer drift). Paced media never fills more than a couple, early
// media (a handful at once) fits, but a burst overruns the slots and
// `state.slots[state.pending].payload = ...` throws a TypeError that nobody catches: the process
// dies, as an unguarded Node server does. Inbound and outbound behave the same.
//
//   node test/servers/burst-race.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

const SLOTS = 16;

export function start({ port = 0, host = '127.0.0.1' } = {}) {
  return listen({
    port,
    host,
    onConnection: (ws) => {
      const state = { streamSid: null, pending: 0, received: 0, slots: Array.from({ length: SLOTS }, () => ({ payload: null })) };
      const drain = setInterval(() => {
        for (let n = 0; n < 2 && state.pending > 0; n += 1) {
          const { payload } = state.slots[0];
          state.slots.push(state.slots.shift());
          state.pending -= 1;
          // Echo every 4th of the first 100 frames so the caller hears a short answer.
          if (++state.received % 4 === 0 && state.received <= 100) ws.send(JSON.stringify({ event: 'media', streamSid: state.streamSid, media: { payload } }));
        }
      }, 20);
      ws.on('close', () => clearInterval(drain));
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString());
        if (msg.event === 'start') state.streamSid = msg.start.streamSid;
        else if (msg.event === 'media') {
          state.slots[state.pending].payload = msg.media.payload;
          state.pending += 1;
        } else if (msg.event === 'stop') ws.close(1000, 'stream stopped');
      });
    },
  });
}

await runIfMain(import.meta.url, start);
