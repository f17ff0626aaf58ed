#!/usr/bin/env node
// Planted fault: an echo server that addresses its replies with the wrong SID. It copies the
// caller's audio straight back, but fills `streamSid` from `start.callSid` (an easy mix-up:
// both are 34-character SIDs), so Twilio drops every frame and the caller hears nothing.
// No stats endpoint.
//
//   node test/servers/wrong-streamsid.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';

export async function start({ port = 0, host = '127.0.0.1' } = {}) {
  const server = http.createServer((req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  });
  const wss = new WebSocketServer({ server, path: '/media' });
  wss.on('connection', (ws) => {
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
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: server.address().port,
    close: () => closeServer(server, wss),
  };
}

function closeServer(server, wss) {
  for (const client of wss.clients) client.terminate();
  wss.close();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function parseArgs(argv) {
  const args = { port: 0, host: '127.0.0.1' };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--port') args.port = Number(argv[++i]);
    else if (argv[i] === '--host') args.host = argv[++i];
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    console.error('usage: wrong-streamsid.mjs [--port N] [--host ADDR]');
    process.exit(2);
  }
  return args;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = parseArgs(process.argv.slice(2));
  // Handlers go in before the "listening" line: a supervisor may signal as soon as it reads it.
  let running = null;
  let stopping = false;
  const shutdown = () => {
    stopping = true;
    void running?.close();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  running = await start(args);
  if (stopping) await running.close();
  else process.stdout.write(`listening on ws://${args.host}:${running.port}/media\n`);
}
