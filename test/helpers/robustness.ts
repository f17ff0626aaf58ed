// Shared by the bad-input, fuzz, fault and security suites: a log that keeps every line, calls
// opened in one line, a bystander call that must come out untouched, and raw upgrade probes.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { createLogger, type Logger } from '../../src/log.js';
import type { CallSnapshot } from '../../src/server/call-snapshot.js';
import { startMediaServer, type RunningMediaServer } from '../../src/server/media-server.js';
import { RawTwilio, SILENT_FRAME, eventually, loudFrame, sleep } from './raw-twilio.js';

export interface CapturedLog {
  logger: Logger;
  lines: string[];
  /** Parsed JSON lines. */
  records(): Array<Record<string, unknown>>;
  /** Records about one call. */
  forCall(callSid: string): Array<Record<string, unknown>>;
}

export function captureLog(secrets: string[] = []): CapturedLog {
  const lines: string[] = [];
  const logger = createLogger({ format: 'json', level: 'debug', secrets, write: (line) => lines.push(line) });
  const records = (): Array<Record<string, unknown>> => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records, forCall: (callSid) => records().filter((r) => r.callSid === callSid) };
}

/** A call past `connected` + `start`, ready for media. */
export async function startedCall(
  server: RunningMediaServer,
  direction: 'inbound' | 'outbound' = 'inbound',
  headers?: Record<string, string>,
): Promise<RawTwilio> {
  const call = new RawTwilio(server.wsUrl, headers ? { headers } : {});
  await call.opened;
  call.connected();
  call.start(direction);
  return call;
}

export async function finishedCall(server: RunningMediaServer, callSid: string, timeoutMs = 5000): Promise<CallSnapshot> {
  const snapshot = await eventually(() => server.call(callSid), (s) => s !== null && s.endedAt !== null, timeoutMs);
  if (snapshot === null || snapshot.endedAt === null) throw new Error(`call ${callSid} did not finish`);
  return snapshot;
}

/**
 * A call that streams silence every 20 ms for as long as the test runs next to it; whatever the
 * other calls do, it must end with every frame counted and no error.
 */
export class Bystander {
  private sent = 0;
  private timer: NodeJS.Timeout | null = null;
  private constructor(private readonly server: RunningMediaServer, readonly call: RawTwilio) {}

  static async start(server: RunningMediaServer): Promise<Bystander> {
    const bystander = new Bystander(server, await startedCall(server, 'inbound'));
    bystander.timer = setInterval(() => {
      bystander.call.sendMedia(SILENT_FRAME);
      bystander.sent += 1;
    }, 20);
    return bystander;
  }

  async finish(): Promise<{ snapshot: CallSnapshot; sent: number; closeCode: number }> {
    if (this.timer !== null) clearInterval(this.timer);
    this.call.stop();
    const closeCode = await this.call.closed;
    return { snapshot: await finishedCall(this.server, this.call.callSid), sent: this.sent, closeCode };
  }
}

/** A whole healthy call: speech, a model answer played back, stop. Returns its final record. */
export async function healthyCall(server: RunningMediaServer, headers?: Record<string, string>): Promise<{ snapshot: CallSnapshot; mediaReceived: number; closeCode: number }> {
  const call = await startedCall(server, 'inbound', headers);
  for (let i = 0; i < 50; i++) {
    call.sendMedia(i < 15 ? loudFrame(i) : SILENT_FRAME);
    await sleep(20);
  }
  await call.until(() => call.media().length > 0, 10_000, 'the model to answer');
  call.stop();
  const closeCode = await call.closed;
  return { snapshot: await finishedCall(server, call.callSid), mediaReceived: call.media().length, closeCode };
}

/** Status of a bare WebSocket upgrade request (101 = accepted; the socket is then dropped). */
export function upgradeStatus(wsUrl: string, headers: Record<string, string> = {}): Promise<number> {
  const url = new URL(wsUrl.replace(/^ws/, 'http'));
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        'sec-websocket-version': '13',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

export interface WatchedServer {
  server: RunningMediaServer;
  log: CapturedLog;
  bystander: Bystander;
}

/** The bad-input and fuzz suites' server: simulator model, every log line captured, a bystander call streaming through. */
export async function startWatchedServer(): Promise<WatchedServer> {
  const log = captureLog();
  const server = await startMediaServer({ port: 0, logger: log.logger, model: { backend: 'simulator', simulator: { answerMs: 400 } } });
  return { server, log, bystander: await Bystander.start(server) };
}
