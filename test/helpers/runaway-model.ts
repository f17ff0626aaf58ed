// A planted realtime model that runs away: it speaks just enough of the OpenAI Realtime protocol
// for the SDK client to become ready (session.update → session.updated), then sends audio without
// end: `endless` deltas of 100 ms as fast as the socket takes them, or one `huge` delta of 10 MB.
// The first `quietSessions` sessions are set up and then left alone (a well-behaved model that has
// nothing to say), so a call next door on the same server can share the process with the runaway.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export type Runaway = 'endless' | 'huge';

export interface RunawayModel {
  /** The base URL for `{ backend: 'simulator', url }` (the SDK adds /realtime). */
  baseURL: string;
  /** Audio deltas sent so far, over every session. */
  deltasSent(): number;
  close(): Promise<void>;
}

const DELTA_100_MS = Buffer.alloc(800, 0x55).toString('base64');
const HUGE_DELTA = Buffer.alloc(7_500_000, 0x55).toString('base64'); // 10 MB of base64

export async function startRunawayModel(kind: Runaway, quietSessions = 0): Promise<RunawayModel> {
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({ server });
  let deltas = 0;
  let sessions = 0;
  const delta = (audio: string, n: number): string =>
    JSON.stringify({ type: 'response.output_audio.delta', event_id: `ev_${n}`, response_id: 'resp_1', item_id: 'item_1', output_index: 0, content_index: 0, delta: audio });
  const runAway = (ws: WebSocket): void => {
    if (kind === 'huge') {
      ws.send(delta(HUGE_DELTA, 0));
      deltas += 1;
      return;
    }
    const pump = (): void => {
      // A burst per turn of the event loop, paced by what the socket has not sent yet.
      while (ws.readyState === ws.OPEN && ws.bufferedAmount < 1024 * 1024) {
        ws.send(delta(DELTA_100_MS, deltas));
        deltas += 1;
        if (deltas % 200 === 0) break;
      }
      if (ws.readyState === ws.OPEN) setImmediate(pump);
    };
    pump();
  };
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    sessions += 1;
    const quiet = sessions <= quietSessions;
    ws.send(JSON.stringify({ type: 'session.created', event_id: 'ev_created', session: { type: 'realtime', id: 'sess_1' } }));
    ws.on('message', (data) => {
      const event = JSON.parse(data.toString()) as { type: string };
      if (event.type !== 'session.update') return;
      ws.send(JSON.stringify({ type: 'session.updated', event_id: 'ev_updated', session: { type: 'realtime', id: 'sess_1' } }));
      if (!quiet) runAway(ws);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    deltasSent: () => deltas,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
