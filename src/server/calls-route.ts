// GET /calls and GET /calls/:callSid: who may read them (GET /metrics follows the same rules),
// and how a page is built.
//
// Access: a bearer token (--calls-token) when one is set, and always when Twilio signatures are
// checked (a server that checks who calls it must not show every caller to anyone who asks);
// --calls-localhost-only on top, with the client's address as origin.ts believes it.
//
// A list is a page: summaries (a call without its error records; the details are at
// /calls/:callSid), newest first, at most MAX_PAGE_LIMIT, with a link to the next page. It is
// written in slices with the event loop let go between them, and at the pace the client reads, so
// a list never stalls the paced audio of live calls (1000 finished calls were one 14.8 MB body
// built in ~300 ms on the event loop, and four pollers pushed a live call's frame gaps to 250 ms).
import type http from 'node:http';
import { redactSecrets } from '../log.js';
import { isSidShaped } from '../twilio/sid.js';
import { headerValue } from '../twilio/signature.js';
import type { CallListEntry, CallSnapshot } from './call-snapshot.js';
import { sameSecret } from './calls-token.js';
import { sendJson } from './http-reply.js';
import { cameThroughProxy, clientAddress, isLoopbackAddress } from './origin.js';
import type { CallRegistry } from './registry.js';
import type { RefusalCounters } from './routes.js';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;
/** Summaries written per slice before the event loop is let go. */
const SLICE = 50;

export interface CallsAccess {
  /** Bearer token /calls requires; null: none set. */
  callsToken: string | null;
  /** Twilio signatures are checked: then /calls requires the bearer token, set or not. */
  signaturesChecked: boolean;
  callsLocalOnly: boolean;
  trustProxy: boolean;
  /** Scrubbed from every answer: a call record can quote what a peer sent. */
  secrets: readonly string[];
  registry: CallRegistry;
  refusals: RefusalCounters;
}

/** `path` is /calls or /calls/…, without any public URL prefix; `url` as requested. */
export async function serveCalls(ctx: CallsAccess, req: http.IncomingMessage, res: http.ServerResponse, path: string, url: URL): Promise<void> {
  if (refusedAccess(ctx, req, res, '/calls')) return;
  if (path === '/calls') {
    await servePage(ctx, res, url);
    return;
  }
  let callSid: string;
  try {
    callSid = decodeURIComponent(path.slice('/calls/'.length));
  } catch {
    sendJson(res, 400, { error: 'bad callSid' });
    return;
  }
  const snapshot = isSidShaped(callSid) ? ctx.registry.find(callSid) : null;
  if (snapshot === null) sendJson(res, 404, { error: 'no such call' });
  else sendJson(res, 200, snapshot, ctx.secrets);
}

/**
 * The rules of /calls, for `route` (/calls, or /metrics, which follows them): true when the
 * request was refused (and answered, and counted).
 */
export function refusedAccess(ctx: CallsAccess, req: http.IncomingMessage, res: http.ServerResponse, route: string): boolean {
  const refusal = accessRefusal(ctx, req, route);
  if (refusal === null) return false;
  ctx.refusals.rejectedCallsRequests += 1;
  if (refusal.status === 401) res.setHeader('www-authenticate', `Bearer realm="callsim ${route}"`);
  sendJson(res, refusal.status, { error: refusal.error });
  return true;
}

function accessRefusal(ctx: CallsAccess, req: http.IncomingMessage, route: string): { status: number; error: string } | null {
  if (ctx.callsLocalOnly) {
    // Through a proxy on this host the socket is loopback whoever the client is: without
    // --trust-proxy its X-Forwarded-For cannot be read, so the request is refused, not let in.
    const unknownClient = !ctx.trustProxy && cameThroughProxy(req);
    if (unknownClient) return { status: 403, error: `${route} is served to localhost only, and this request came through a proxy (start with --trust-proxy to read its X-Forwarded-For)` };
    if (!isLoopbackAddress(clientAddress(req, ctx.trustProxy))) return { status: 403, error: `${route} is served to localhost only` };
  }
  if (ctx.callsToken === null && !ctx.signaturesChecked) return null;
  if (ctx.callsToken === null) return { status: 401, error: `this server checks Twilio signatures, so ${route} needs a bearer token: start it with --calls-token (or CALLSIM_CALLS_TOKEN)` };
  const given = /^Bearer\s+(\S+)\s*$/i.exec(headerValue(req.headers.authorization) ?? '')?.[1];
  if (given === undefined || !sameSecret(given, ctx.callsToken)) return { status: 401, error: `${route} needs the bearer token the server was started with (Authorization: Bearer …)` };
  return null;
}

function positiveInteger(value: string | null, max: number): number | null | 'bad' {
  if (value === null) return null;
  if (!/^\d{1,10}$/.test(value)) return 'bad';
  const n = Number(value);
  return n >= 1 && n <= max ? n : 'bad';
}

async function servePage(ctx: CallsAccess, res: http.ServerResponse, url: URL): Promise<void> {
  const limit = positiveInteger(url.searchParams.get('limit'), MAX_PAGE_LIMIT);
  const before = positiveInteger(url.searchParams.get('before'), Number.MAX_SAFE_INTEGER);
  if (limit === 'bad' || before === 'bad') {
    sendJson(res, 400, { error: `limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}, before a call cursor from a previous page's next` });
    return;
  }
  const pageLimit = limit ?? DEFAULT_PAGE_LIMIT;
  const { registry } = ctx;
  const page = registry.page(pageLimit, before);
  const next = page.next === null ? null : `${url.pathname}?limit=${pageLimit}&before=${page.next}`;
  const head = { total: page.total, live: registry.startedCount, awaitingStart: registry.awaitingStartCount, limit: pageLimit, next };
  res.writeHead(200, { 'content-type': 'application/json' });
  let text = `${JSON.stringify(head).slice(0, -1)},"calls":[`;
  let first = true;
  for (let i = 0; i < page.serials.length; i += SLICE) {
    for (const serial of page.serials.slice(i, i + SLICE)) {
      // Taken now, not when the page was planned: a live call's counters as of this slice.
      const snapshot = registry.snapshotOf(serial);
      if (snapshot === null) continue;
      text += (first ? '' : ',') + summaryJson(snapshot, ctx.secrets);
      first = false;
    }
    if (!(await writeSlice(res, text))) return;
    text = '';
  }
  res.end(`${text}]}`);
}

/** Writes, then lets the event loop go (and waits for the client to read when it lags); false: the client left. */
async function writeSlice(res: http.ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(text)) await new Promise((resolve) => setImmediate(resolve));
  else await drainedOrClosed(res);
  return !res.destroyed;
}

function drainedOrClosed(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * A finished call's summary never changes (a late error replaces its snapshot object, and so
 * misses here): written once, not once per poll. What pollers re-read costs a lookup, not a
 * stringify, and makes no garbage for the collector to stop the event loop for.
 */
const finishedSummaries = new WeakMap<CallSnapshot, string>();

function summaryJson(snapshot: CallSnapshot, secrets: readonly string[]): string {
  const cached = finishedSummaries.get(snapshot);
  if (cached !== undefined) return cached;
  const json = redactSecrets(JSON.stringify(summaryOf(snapshot)), secrets);
  if (snapshot.endedAt !== null) finishedSummaries.set(snapshot, json);
  return json;
}

export function summaryOf(snapshot: CallSnapshot): CallListEntry {
  const { errors: _errors, ...summary } = snapshot;
  return summary;
}
