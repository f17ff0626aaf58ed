// A scripted voice agent for the call-flow tests: a voice webhook that answers whatever TwiML the
// test says (and records every request Twilio's fake made), and a Media Streams socket that
// records every upgrade and message, on one loopback port, as a real agent serves them.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';

export interface WebhookHit {
  method: string;
  /** The path and query as requested. */
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The parameters, from the form body (POST) or the query string (GET). */
  params: Record<string, string>;
}

export interface Upgrade {
  path: string;
  headers: http.IncomingHttpHeaders;
}

export interface Received {
  at: number;
  message: Record<string, unknown> & { event: string };
}

/** What the webhook answers: TwiML for this host, or a raw status and body. */
export type WebhookAnswer = string | { status: number; body?: string; headers?: Record<string, string> };

export interface VoiceServerOptions {
  /** Default: <Connect><Stream url="wss://HOST/media"/>. */
  twiml?: (host: string, hit: WebhookHit) => WebhookAnswer;
  /** Runs when `start` arrives (the server always closes with 1000 on `stop`). */
  onStart?: (ws: WebSocket, start: Record<string, unknown>) => void;
  /** Refuse the upgrade with this status (a signature check, say). */
  onUpgrade?: (upgrade: Upgrade) => number | null;
}

export interface VoiceServer {
  port: number;
  httpUrl: string;
  wsUrl: string;
  webhooks: WebhookHit[];
  upgrades: Upgrade[];
  /** Every message each stream received. */
  calls: Received[][];
  close(): Promise<void>;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

export const connectTwiml = (url: string, params: Record<string, string> = {}): string =>
  `<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="${url}">${Object.entries(params)
    .map(([name, value]) => `<Parameter name="${name}" value="${value}"/>`)
    .join('')}</Stream></Connect></Response>`;

export async function startVoiceServer(options: VoiceServerOptions = {}): Promise<VoiceServer> {
  const webhooks: WebhookHit[] = [];
  const upgrades: Upgrade[] = [];
  const calls: Received[][] = [];
  const twiml = options.twiml ?? ((host: string) => connectTwiml(`wss://${host}/media`));
  const server = http.createServer((req, res) => {
    void (async () => {
      const body = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://localhost');
      const params = Object.fromEntries(new URLSearchParams(req.method === 'POST' ? body : url.search));
      // The fake asks GET /calls/:callSid for stats after each call: not a webhook request.
      if (url.pathname.startsWith('/calls/')) {
        res.writeHead(404).end('no stats');
        return;
      }
      const hit: WebhookHit = { method: req.method ?? '?', path: req.url ?? '/', headers: req.headers, body, params };
      webhooks.push(hit);
      if (url.pathname !== '/twiml') {
        res.writeHead(404).end('not found');
        return;
      }
      const answer = twiml(req.headers.host ?? 'localhost', hit);
      if (typeof answer === 'string') res.writeHead(200, { 'content-type': 'text/xml' }).end(answer);
      else res.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '');
    })();
  });
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) => {
    const upgrade: Upgrade = { path: req.url ?? '/', headers: req.headers };
    upgrades.push(upgrade);
    const refuse = options.onUpgrade?.(upgrade) ?? null;
    if (refuse !== null) {
      socket.end(`HTTP/1.1 ${refuse} Refused\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const received: Received[] = [];
      calls.push(received);
      ws.on('message', (data) => {
        const message = JSON.parse(data.toString()) as Received['message'];
        received.push({ at: performance.now(), message });
        if (message.event === 'start') options.onStart?.(ws, message.start as Record<string, unknown>);
        if (message.event === 'stop') ws.close(1000, 'stream stopped');
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}/media`,
    webhooks,
    upgrades,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
