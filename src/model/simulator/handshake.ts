// The upgrade request of a realtime connection, judged as the live API judges it (captured
// 2026-09): it always upgrades (101), then a refused connection gets one error event and a close
// frame: 3000 for authentication, 4000 for the request's shape (beta header, missing or unknown
// model), with the reason "<type>.<code>".
import type { IncomingMessage } from 'node:http';
import { errors, type ErrorBody } from './errors.js';

export const BETA_SUBPROTOCOL = 'openai-beta.realtime-v1';
const INSECURE_KEY_SUBPROTOCOL = 'openai-insecure-api-key.';
/** Models the simulator answers as: the realtime families of the openai package's model list, and its own name. */
const REALTIME_MODEL = /^(gpt-realtime|gpt-4o-realtime|gpt-4o-mini-realtime|gpt-audio)(-|$)|^callsim-simulator$/;

export interface HandshakeOptions {
  /** Require this API key (default: any non-empty key). */
  apiKey?: string;
  /** Which model names are accepted (default: the realtime model families). */
  acceptModel?: (model: string) => boolean;
  /** The connection came through connect() inside this process: there is no key to show. */
  inProcess: boolean;
}

export type HandshakeVerdict =
  | { ok: true; model: string; callSid: string | null }
  | { ok: false; model: string; callSid: string | null; error: ErrorBody; closeCode: number; closeReason: string };

export function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  return typeof header === 'string' ? header.split(',').map((p) => p.trim()).filter((p) => p.length > 0) : [];
}

function apiKeyOf(req: IncomingMessage, protocols: string[]): string | null {
  const auth = req.headers.authorization;
  if (typeof auth === 'string') {
    const match = /^(Bearer|Basic)\s+(\S+)$/i.exec(auth.trim());
    if (match) return match[2]!;
  }
  const fromProtocol = protocols.find((p) => p.startsWith(INSECURE_KEY_SUBPROTOCOL));
  return fromProtocol ? fromProtocol.slice(INSECURE_KEY_SUBPROTOCOL.length) || null : null;
}

export function judgeHandshake(req: IncomingMessage, url: URL, options: HandshakeOptions): HandshakeVerdict {
  const protocols = offeredProtocols(req);
  const model = url.searchParams.get('model') ?? '';
  const callSidHeader = req.headers['x-callsim-call-sid'];
  const callSid = typeof callSidHeader === 'string' && callSidHeader.length > 0 ? callSidHeader.slice(0, 128) : null;
  const refuse = (error: ErrorBody, closeCode: number): HandshakeVerdict => ({
    ok: false, model, callSid, error, closeCode, closeReason: error.code ? `${error.type}.${error.code}` : error.type,
  });
  const beta = req.headers['openai-beta'];
  if ((typeof beta === 'string' && /realtime/i.test(beta)) || protocols.includes(BETA_SUBPROTOCOL)) return refuse(errors.betaShape(), 4000);
  if (!options.inProcess) {
    const key = apiKeyOf(req, protocols);
    if (key === null) return refuse(errors.missingAuth(), 3000);
    if (options.apiKey !== undefined && key !== options.apiKey) return refuse(errors.invalidApiKey(key), 3000);
  }
  if (model.length === 0) return refuse(errors.missingModel(), 4000);
  if (!(options.acceptModel ?? ((m: string) => REALTIME_MODEL.test(m)))(model)) return refuse(errors.invalidModel(model), 4000);
  return { ok: true, model, callSid };
}

/** The subprotocol to answer with: 'realtime' when offered (as browsers and workerd clients do), else none. */
export function chooseProtocol(protocols: Set<string>): string | false {
  return protocols.has('realtime') ? 'realtime' : (protocols.values().next().value ?? false);
}
