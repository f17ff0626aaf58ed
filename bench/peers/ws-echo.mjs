#!/usr/bin/env node
// The bare `ws` echo: the floor under any Node Media Streams server. It parses each Twilio JSON
// frame and answers every caller frame with one media frame (the same audio), and does nothing
// else: no model, no pacing, no marks. It keeps callsim serve's per-call counters on GET /calls
// and /calls/:callSid, so `callsim load` checks it the same way.
//
//   node bench/peers/ws-echo.mjs --port 0   -> "listening on ws://127.0.0.1:PORT/media"
import http from 'node:http';
import { WebSocketServer } from 'ws';

const calls = new Map();
const port = Number(process.argv.includes('--port') ? process.argv[process.argv.indexOf('--port') + 1] : (process.env.PORT ?? 0));

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/calls') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ calls: [...calls.values()] }));
    return;
  }
  const call = req.method === 'GET' && url.pathname.startsWith('/calls/') ? calls.get(decodeURIComponent(url.pathname.slice(7))) : undefined;
  if (call) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(call));
  else res.writeHead(404).end();
});

const wss = new WebSocketServer({ server, path: '/media', maxPayload: 64 * 1024 });
wss.on('connection', (ws) => {
  let call = null;
  let prefix = '';
  ws.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    if (msg.event === 'media' && call !== null) {
      call.counters.audioInChunks += 1;
      ws.send(prefix + msg.media.payload + '"}}');
      call.counters.audioOutChunks += 1;
    } else if (msg.event === 'start') {
      call = { callSid: msg.start.callSid, state: 'started', counters: { audioInChunks: 0, audioOutChunks: 0 }, errors: [] };
      calls.set(call.callSid, call);
      prefix = `{"event":"media","streamSid":${JSON.stringify(msg.start.streamSid)},"media":{"payload":"`;
    } else if (msg.event === 'stop') {
      if (call !== null) call.state = 'stopped';
      ws.close(1000, 'stream stopped');
    }
  });
  ws.on('close', () => {
    if (call !== null && call.state !== 'stopped') call.state = 'closed';
  });
});

server.listen(port, '127.0.0.1', () => console.log(`listening on ws://127.0.0.1:${server.address().port}/media`));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const ws of wss.clients) ws.terminate();
    server.close(() => process.exit(0));
  });
}
