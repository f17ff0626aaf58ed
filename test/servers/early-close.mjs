#!/usr/bin/env node
// Planted fault: the server hangs up on the caller. After ~10 media frames it closes the
// WebSocket (a plain close(), no error code) without waiting for `stop`, the way a handler that
// "finishes" on a timer or a miscounted frame budget does. No stats endpoint.
//
//   node test/servers/early-close.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

const CLOSE_AFTER_MEDIA_FRAMES = 10;

export function start({ port = 0, host = '127.0.0.1' } = {}) {
  return listen({
    port,
    host,
    onConnection: (ws) => {
      let mediaFrames = 0;
      ws.on('message', (data) => {
        let msg;
        try {
          msg = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (msg.event === 'media' && ++mediaFrames === CLOSE_AFTER_MEDIA_FRAMES) ws.close();
        if (msg.event === 'stop') ws.close(1000, 'stream stopped');
      });
    },
  });
}

await runIfMain(import.meta.url, start);
