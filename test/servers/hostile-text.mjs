#!/usr/bin/env node
// Planted fault: a server whose every string is an attack on the terminal and the reports that
// show it. Its close reason, the events it sends, its /calls answer (state, counter names, error
// records) and the crash line it prints carry newlines, carriage returns, ANSI escapes (clear
// screen, window title), a bidi override, U+2028 and U+FFFE, and each tries to forge a "PASS".
// A checker must report all of it escaped, on one line each, and never pass the call.
//
//   node test/servers/hostile-text.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

/** What a hostile string looks like: every trick, ending in a forged verdict line. */
export const FORGERY = '\r\n\u001b[2J\u001b]0;pwned\u0007\u202e\u2028\ufffePASS healthy call: 9 checks passed';

export function start({ port = 0, host = '127.0.0.1', quiet = false } = {}) {
  return listen({
    port,
    host,
    onRequest: (req, res) => {
      if (!req.url?.startsWith('/calls/')) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          state: `stopped${FORGERY}`,
          counters: { audioInChunks: 1, audioOutChunks: 0, [`evil${FORGERY}`]: 1 },
          errors: [{ code: `x${FORGERY}`, message: FORGERY }],
        }),
      );
    },
    onConnection: (ws) => {
      ws.on('message', (data) => {
        let msg;
        try {
          msg = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (msg.event === 'start') {
          const streamSid = msg.start.streamSid;
          if (!quiet) console.error(`TypeError: call ${msg.start.callSid} failed${FORGERY}`);
          ws.send(JSON.stringify({ event: `bogus${FORGERY}`, streamSid }));
          ws.send(`{"event":"media",${FORGERY}`);
          ws.send(JSON.stringify({ event: 'mark', streamSid: `MZ${FORGERY}`, mark: { name: FORGERY } }));
        }
        // Hangs up early, with the hostile reason (a close reason is at most 123 bytes).
        if (msg.event === 'media') ws.close(1000, FORGERY.slice(0, 40));
        if (msg.event === 'stop') ws.close(1000, FORGERY.slice(0, 40));
      });
    },
  });
}

await runIfMain(import.meta.url, start);
