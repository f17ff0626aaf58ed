// Shared by the bad-input, fuzz, fault and security suites: a log that keeps every line, calls
// opened in one line, a bystander call that must come out untouched, and raw upgrade probes.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { createLogger, type Logger } from '../../src/log.js';
import type { CallSnapshot } from '../../src/server/call-snapshot.js';
import { startMediaServer, type RunningMediaServer } from '../../src/server/media-server.js';
import { STREAM_TOKEN_PARAMETER } from '../../src/server/stream-token.js';
import { newStreamIds, type StreamIds } from '../../src/twilio/codec.js';
import { TWILIO_SIGNATURE_HEADER, computeTwilioSignature, formParams } from '../../src/twilio/signature.js';
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

/** How a call dials: upgrade headers, its SIDs, the <Parameter>s its start carries. */
export interface Dialling {
  headers?: Record<string, string>;
  ids?: StreamIds;
  parameters?: Record<string, string>;
}

/**
 * What Twilio does before it streams a call to a server that checks signatures: the signed
 * webhook for a CallSid, whose TwiML carries that call's stream token, then the upgrade signed
 * over the wss:// stream URL. `host`: the host both are signed for.
 */
export async function signedDialling(server: RunningMediaServer, authToken: string, host = `127.0.0.1:${server.port}`): Promise<Required<Dialling> & { twiml: string }> {
  const ids = newStreamIds();
  const body = `AccountSid=${ids.accountSid}&CallSid=${ids.callSid}&Direction=inbound`;
  const signature = computeTwilioSignature(authToken, `http://${host}/twiml`, formParams(body));
  const res = await fetch(`${server.httpUrl}/twiml`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', [TWILIO_SIGNATURE_HEADER]: signature } });
  const twiml = await res.text();
  if (res.status !== 200) throw new Error(`signed /twiml answered ${res.status}: ${twiml}`);
  const token = new RegExp(`<Parameter name="${STREAM_TOKEN_PARAMETER}" value="([^"]+)"/>`).exec(twiml)?.[1];
  if (token === undefined) throw new Error(`no stream token in the TwiML: ${twiml}`);
  return { headers: { [TWILIO_SIGNATURE_HEADER]: computeTwilioSignature(authToken, `wss://${host}/media`) }, ids, parameters: { [STREAM_TOKEN_PARAMETER]: token }, twiml };
}

/** A call past `connected` + `start`, ready for media. */
export async function startedCall(server: RunningMediaServer, direction: 'inbound' | 'outbound' = 'inbound', dialling: Dialling = {}): Promise<RawTwilio> {
  const call = new RawTwilio(server.wsUrl, dialling);
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
export async function healthyCall(server: RunningMediaServer, dialling: Dialling = {}): Promise<{ snapshot: CallSnapshot; mediaReceived: number; closeCode: number }> {
  const call = await startedCall(server, 'inbound', dialling);
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
