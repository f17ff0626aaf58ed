// Child process: the floor a Media Streams server cannot go below. A bare `ws` server that
// parses each Twilio JSON frame and echoes one media frame back, with the same per-call
// counters and GET /calls shape as the media server so the bench checks it the same way.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { SelfMeter, serveRpc, type ProcWindowStats } from './shared.js';

export interface BaselineWindowStats extends ProcWindowStats {
  framesIn: number;
  framesOut: number;
  liveCalls: number;
}

interface BaselineCall {
  callSid: string | null;
  counters: { audioInChunks: number; audioOutChunks: number };
  errors: string[];
}

interface TwilioFrame {
  event?: string;
  start?: { callSid?: string; streamSid?: string };
  media?: { payload?: string };
}

const meter = new SelfMeter();
const calls: BaselineCall[] = [];
let live = 0;
let framesIn = 0;
let framesOut = 0;
let startIn = 0;
let startOut = 0;

function onConnection(ws: WebSocket): void {
  const call: BaselineCall = { callSid: null, counters: { audioInChunks: 0, audioOutChunks: 0 }, errors: [] };
  calls.push(call);
  live += 1;
  let prefix = '';
  ws.on('message', (data: RawData, isBinary: boolean) => {
    let msg: TwilioFrame;
    try {
      msg = JSON.parse((data as Buffer).toString()) as TwilioFrame;
    } catch {
      call.errors.push(isBinary ? 'binary frame' : 'malformed JSON');
      return;
    }
    switch (msg.event) {
      case 'media': {
        const payload = msg.media?.payload;
        if (typeof payload !== 'string' || prefix === '') {
          call.errors.push('media without payload or before start');
          return;
        }
        call.counters.audioInChunks += 1;
        framesIn += 1;
        ws.send(prefix + payload + '"}}');
        call.counters.audioOutChunks += 1;
        framesOut += 1;
        return;
      }
      case 'start':
        call.callSid = msg.start?.callSid ?? null;
        prefix = `{"event":"media","streamSid":${JSON.stringify(msg.start?.streamSid ?? '')},"media":{"payload":"`;
        return;
      case 'stop':
        ws.close(1000, 'stop');
        return;
      default:
        return;
    }
  });
  ws.on('close', () => {
    live -= 1;
  });
  ws.on('error', (err) => call.errors.push(err.message));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url?.split('?')[0] === '/calls') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ calls }));
    return;
  }
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, path: '/media', maxPayload: 64 * 1024 });
wss.on('connection', onConnection);

serveRpc({
  start: async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as AddressInfo).port;
    return { port, httpUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/media` };
  },
  windowStart: () => {
    startIn = framesIn;
    startOut = framesOut;
    meter.windowStart();
  },
  windowEnd: (): BaselineWindowStats => ({ ...meter.windowEnd(), framesIn: framesIn - startIn, framesOut: framesOut - startOut, liveCalls: live }),
  exit: () => {
    for (const ws of wss.clients) ws.terminate();
    server.close();
    setTimeout(() => process.exit(0), 50);
  },
});
