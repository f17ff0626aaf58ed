#!/usr/bin/env node
// Planted fault: an echo server that addresses its replies with the wrong SID. It copies the
// caller's audio straight back, but fills `streamSid` from `start.callSid` (an easy mix-up:
// both are 34-character SIDs), so Twilio drops every frame and the caller hears nothing.
// No stats endpoint.
//
//   node test/servers/wrong-streamsid.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

export function start({ port = 0, host = '127.0.0.1' } = {}) {
  return listen({
    port,
    host,
    onConnection: (ws) => {
      let replySid = null;
      ws.on('message', (data) => {
        let msg;
        try {
          msg = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (msg.event === 'start') replySid = msg.start.callSid;
        if (msg.event === 'media' && replySid) {
          ws.send(JSON.stringify({ event: 'media', streamSid: replySid, media: { payload: msg.media.payload } }));
        }
        if (msg.event === 'stop') ws.close(1000, 'stream stopped');
      });
    },
  });
}

await runIfMain(import.meta.url, start);
