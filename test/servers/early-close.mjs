#!/usr/bin/env node
// Planted fault: the server hangs up on the caller. After ~10 media frames it closes the
// WebSocket (a plain close(), no error code) without waiting for `stop`, the way a handler that
// "finishes" on a timer or a miscounted frame budget does. No stats endpoint.
//
//   node test/servers/early-close.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';

const CLOSE_AFTER_MEDIA_FRAMES = 10;

export async function start({ port = 0, host = '127.0.0.1' } = {}) {
  const server = http.createServer((req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  });
  const wss = new WebSocketServer({ server, path: '/media' });
  wss.on('connection', (ws) => {
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
    console.error('usage: early-close.mjs [--port N] [--host ADDR]');
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
