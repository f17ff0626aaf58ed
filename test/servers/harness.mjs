// What every planted server shares: listen on loopback with /media for WebSockets, close
// everything on request, and run as a command that prints one "listening on" line.
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { WebSocketServer } from 'ws';

const notFound = (_req, res) => {
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: 'not found' }));
};

/** Starts an HTTP server with a WebSocket endpoint at /media; `onConnection(ws)` per call. */
export async function listen({ port = 0, host = '127.0.0.1', onConnection, onRequest = notFound }) {
  const server = http.createServer(onRequest);
  const wss = new WebSocketServer({ server, path: '/media' });
  wss.on('connection', onConnection);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return {
    port: server.address().port,
    close: () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** When `moduleUrl` is the script node was started with: parse --port/--host, start, print the URL. */
export async function runIfMain(moduleUrl, start) {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  const args = { port: Number(process.env.PORT ?? 0), host: '127.0.0.1' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--port') args.port = Number(argv[++i]);
    else if (argv[i] === '--host') args.host = argv[++i];
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    console.error(`usage: ${process.argv[1]} [--port N] [--host ADDR]`);
    process.exit(2);
  }
  // Handlers go in before the "listening" line: a supervisor may signal as soon as it reads it.
  let running = null;
  let stopping = false;
  const shutdown = () => {
    stopping = true;
    // For the gate's tests: a server that prints a crash on its way out, which no call caused.
    if (process.env.CALLSIM_TEST_NOISY_SHUTDOWN) console.error("TypeError: Cannot read properties of undefined (reading 'close')\n    at shutdown (harness.mjs)");
    void running?.close();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  running = await start(args);
  if (stopping) await running.close();
  else process.stdout.write(`listening on ws://${args.host}:${running.port}/media\n`);
}
