#!/usr/bin/env node
// Planted fault for the reports: a server that talks about its calls the way most do. It logs a
// line naming the call when a call starts and ends, a "mixer tick" line naming no call every 25
// media frames, and on outbound calls a caught TypeError that quotes the token it was started
// with (MY_SERVICE_TOKEN) and the OpenAI key it inherited. It answers every call with a short
// echo and closes on stop, so only the crash line fails a call.
//
//   MY_SERVICE_TOKEN=… node test/servers/chatty.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

const TICK_EVERY_FRAMES = 25;
const ECHO_FRAMES = 20;

export function start({ port = 0, host = '127.0.0.1', quiet = false } = {}) {
  const log = (line) => {
    if (!quiet) console.log(line);
  };
  return listen({
    port,
    host,
    onConnection: (ws) => {
      const call = { callSid: null, streamSid: null, frames: 0 };
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString());
        if (msg.event === 'start') {
          call.callSid = msg.start.callSid;
          call.streamSid = msg.start.streamSid;
          const direction = msg.start.customParameters?.direction ?? 'inbound';
          log(`call ${call.callSid} started (${direction})`);
          if (direction === 'outbound') {
            log(`TypeError: the CRM rejected token ${process.env.MY_SERVICE_TOKEN ?? '-'} (key ${process.env.OPENAI_API_KEY ?? '-'})`);
          }
        } else if (msg.event === 'media') {
          call.frames += 1;
          if (call.frames % TICK_EVERY_FRAMES === 0) log('mixer tick');
          if (call.frames <= ECHO_FRAMES) ws.send(JSON.stringify({ event: 'media', streamSid: call.streamSid, media: { payload: msg.media.payload } }));
        } else if (msg.event === 'stop') {
          log(`call ${call.callSid} stopped after ${call.frames} frames`);
          ws.close(1000, 'stream stopped');
        }
      });
    },
  });
}

await runIfMain(import.meta.url, start);
