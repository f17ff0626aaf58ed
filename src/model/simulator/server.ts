// The simulator's listeners: plain HTTP/ws and HTTPS/wss, one request handler and one upgrade
// handler for both. Routes: WS /v1/realtime (the realtime API), GET /v1/callsim/sessions (the
// session records, read-only JSON, for `gate --simulator-url`: `?callSid=` one call's, `?since=`
// epoch ms those open then or opened since; with the simulator's clock as `now`, so a reader in
// another process can line its own clock up), GET /healthz.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { SimulatorFaults } from './faults.js';
import { chooseProtocol, judgeHandshake, type HandshakeOptions } from './handshake.js';
import { nowMs, SessionRecorder, type SessionTransport, type SimulatorSessionRecord } from './record.js';
import { newId, SimulatorSession, type SessionSettings } from './session.js';

export const REALTIME_PATH = '/v1/realtime';
export const SESSIONS_PATH = '/v1/callsim/sessions';
/** Docs allow 15 MiB of audio per append: base64 of that, plus the envelope. */
const MAX_FRAME_BYTES = 21 * 1024 * 1024;

/** Live sessions and the most recent finished ones. */
export class SessionRegistry {
  private readonly live = new Set<SimulatorSession>();
  private readonly finished: SimulatorSessionRecord[] = [];

  constructor(private readonly keepFinished: number) {}

  add(session: SimulatorSession): void {
    this.live.add(session);
  }

  finish(session: SimulatorSession): void {
    if (!this.live.delete(session)) return;
    this.keep(session.recorder.snapshot());
  }

  keep(record: SimulatorSessionRecord): void {
    this.finished.push(record);
    if (this.finished.length > this.keepFinished) this.finished.splice(0, this.finished.length - this.keepFinished);
  }

  all(): SimulatorSessionRecord[] {
    return [...this.finished, ...[...this.live].map((s) => s.recorder.snapshot())];
  }

  liveSessions(): IterableIterator<SimulatorSession> {
    return this.live.values();
  }
}

export interface ServerContext {
  registry: SessionRegistry;
  settings: SessionSettings;
  faults: SimulatorFaults;
  handshake: Omit<HandshakeOptions, 'inProcess'>;
  /** Accepted pipe ends of connect(): the embedding process itself. */
  inProcess: WeakSet<Duplex>;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

export function requestHandler(context: ServerContext): http.RequestListener {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    if (req.method === 'GET' && url.pathname === SESSIONS_PATH) {
      const callSid = url.searchParams.get('callSid');
      const since = Number(url.searchParams.get('since') ?? Number.NaN);
      const current = (s: SimulatorSessionRecord): boolean => !Number.isFinite(since) || s.open || s.openedAt >= since || (s.closedAt ?? 0) >= since;
      const sessions = context.registry.all().filter((s) => (callSid === null || s.callSid === callSid) && current(s));
      return json(res, 200, { now: nowMs(), sessions });
    }
    if (req.method === 'GET' && url.pathname === '/healthz') return json(res, 200, { ok: true });
    if (url.pathname === REALTIME_PATH) {
      res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' }).end('realtime simulator: WebSocket only\n');
      return;
    }
    json(res, 404, { error: { message: `Invalid URL (${req.method ?? 'GET'} ${url.pathname})`, type: 'invalid_request_error', param: null, code: null } });
  };
}

export function upgradeHandler(context: ServerContext, transport: 'ws' | 'wss'): (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, handleProtocols: (protocols) => chooseProtocol(protocols) });
  let upgrades = 0;
  let sessionsOpened = 0;
  return (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://simulator');
    upgrades += 1;
    const { faults } = context;
    const refuse = faults.refuseConnections === true || upgrades <= (faults.refuseFirstConnections ?? 0);
    if (refuse || url.pathname !== REALTIME_PATH) {
      socket.end(`HTTP/1.1 ${refuse ? '503 Service Unavailable' : '404 Not Found'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const inProcess = context.inProcess.has(socket);
    const verdict = judgeHandshake(req, url, { ...context.handshake, inProcess });
    const kind: SessionTransport = inProcess ? 'in-process' : transport;
    wss.handleUpgrade(req, socket, head, (ws) => {
      if (!verdict.ok) {
        // The live API's way: one error event, then the close frame with the error's type.code.
        const recorder = new SessionRecorder(newId('sess'), verdict.callSid, verdict.model, kind);
        recorder.record.clientErrors = 1;
        recorder.push('errors', { at: recorder.record.openedAt, type: verdict.error.type, code: verdict.error.code, message: verdict.error.message, clientEventType: null, clientEventId: null, scripted: false });
        ws.send(JSON.stringify({ type: 'error', event_id: newId('event'), error: verdict.error }));
        ws.close(verdict.closeCode, verdict.closeReason);
        recorder.close('simulator', verdict.closeCode, verdict.closeReason);
        context.registry.keep(recorder.snapshot());
        return;
      }
      sessionsOpened += 1;
      const dropApplies = faults.dropSessions === undefined || sessionsOpened <= faults.dropSessions;
      const session = new SimulatorSession(ws, socket, { callSid: verdict.callSid, model: verdict.model, transport: kind, dropApplies }, context.settings);
      context.registry.add(session);
      ws.on('close', () => context.registry.finish(session));
    });
  };
}
