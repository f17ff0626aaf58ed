#!/usr/bin/env node
// Planted fault: a server that logs a caught TypeError for every line of a batch job gone wrong:
// 200 crash lines per media frame, each naming the call, and one 2 MB line with no newline per
// call (a dumped payload). It answers like a healthy server otherwise (echoes a short answer,
// closes on stop). The gate must report the crash without its report growing with the flood.
//
//   node test/servers/crash-flood.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

const LINES_PER_FRAME = 200;

export function start({ port = 0, host = '127.0.0.1' } = {}) {
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
          process.stdout.write(`payload dump ${call.callSid}: ${'A'.repeat(2 * 1024 * 1024)}`);
        } else if (msg.event === 'media') {
          call.frames += 1;
          let batch = '';
          for (let i = 0; i < LINES_PER_FRAME; i++) batch += `TypeError: Cannot read properties of undefined (reading 'row ${i}') [call ${call.callSid}]\n`;
          process.stderr.write(batch);
          if (call.frames % 4 === 0 && call.frames <= 100) ws.send(JSON.stringify({ event: 'media', streamSid: call.streamSid, media: { payload: msg.media.payload } }));
        } else if (msg.event === 'stop') ws.close(1000, 'stream stopped');
      });
    },
  });
}

await runIfMain(import.meta.url, start);
