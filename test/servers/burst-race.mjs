#!/usr/bin/env node
// Planted fault: a server whose jitter buffer assumes Twilio's real-time pacing. Each call gets
// 16 preallocated slots, drained every 20 ms (two at most, to absorb timer drift). Paced media never fills more than a couple, early
// media (a handful at once) fits, but a burst overruns the slots and
// `state.slots[state.pending].payload = ...` throws a TypeError that nobody catches: the process
// dies, as an unguarded Node server does. Inbound and outbound behave the same.
//
//   node test/servers/burst-race.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';

const SLOTS = 16;

export async function start({ port = 0, host = '127.0.0.1' } = {}) {
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, path: '/media' });
  wss.on('connection', (ws) => {
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
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: server.address().port,
    close: () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 0);
  const running = await start({ port });
  process.stdout.write(`listening on ws://127.0.0.1:${running.port}/media\n`);
  process.once('SIGTERM', () => void running.close().then(() => process.exit(0)));
}
