#!/usr/bin/env node
// Planted fault for the reports: a server that talks about its calls the way most do. It learns
// each call's direction from its voice webhook (/twiml reads Twilio's Direction and hands it on as
// a <Parameter>), as Twilio calls it. It logs a
// line naming the call when a call starts and ends, a "mixer tick" line naming no call every 25
// media frames, and on outbound calls a caught TypeError that quotes the token it was started
// with (MY_SERVICE_TOKEN) and the OpenAI key it inherited. It answers every call with a short
// echo and closes on stop, so only the crash line fails a call.
//
//   MY_SERVICE_TOKEN=… node test/servers/chatty.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

const TICK_EVERY_FRAMES = 25;
const ECHO_FRAMES = 20;

/** The voice webhook: <Connect><Stream> to /media, the call's direction as a <Parameter>. */
function twiml(req, res) {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => (body += chunk));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/twiml') {
      res.writeHead(404).end();
      return;
    }
    const form = new URLSearchParams(req.method === 'POST' ? body : url.search);
    const direction = (form.get('Direction') ?? 'inbound').startsWith('outbound') ? 'outbound' : 'inbound';
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url="wss://${req.headers.host}/media"><Parameter name="direction" value="${direction}"/></Stream></Connect></Response>`);
  });
}

export function start({ port = 0, host = '127.0.0.1', quiet = false } = {}) {
  const log = (line) => {
    if (!quiet) console.log(line);
  };
  return listen({
    port,
    host,
    onRequest: twiml,
    onConnection: (ws) => {
      const call = { callSid: null, streamSid: null, frames: 0 };
      ws.on('message', (data) => {
        const msg = JSON.parse(data.toString());
        if (msg.event === 'start') {
          call.callSid = msg.start.callSid;
          call.streamSid = msg.start.streamSid;
          const direction = msg.start.customParameters?.direction ?? 'inbound';
          log(`call ${call.callSid} started (${direction})`);
          if (direction === 'outbound') {
            log(`TypeError: the CRM rejected token ${process.env.MY_SERVICE_TOKEN ?? '-'} (key ${process.env.OPENAI_API_KEY ?? '-'})`);
          }
        } else if (msg.event === 'media') {
          call.frames += 1;
          if (call.frames % TICK_EVERY_FRAMES === 0) log('mixer tick');
          if (call.frames <= ECHO_FRAMES) ws.send(JSON.stringify({ event: 'media', streamSid: call.streamSid, media: { payload: msg.media.payload } }));
        } else if (msg.event === 'stop') {
          log(`call ${call.callSid} stopped after ${call.frames} frames`);
          ws.close(1000, 'stream stopped');
        }
      });
    },
  });
}

await runIfMain(import.meta.url, start);
