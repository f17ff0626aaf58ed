#!/usr/bin/env node
// Planted fault: a Media Streams server written the way many hand-rolled ones are, with a
// per-call state object filled in by the `start` handler. The inbound branch initialises
// `audioOutChunks`; the outbound branch forgets, so `state.audioOutChunks += 1` turns it into
// NaN, and then `state.greetingMarks.push(...)` hits a field nobody created. The per-connection
// try/catch logs the TypeError with its stack and closes the socket with 1011 before `stop`.
// Inbound calls work. It learns the direction the way many servers do: its voice webhook (POST
// or GET /twiml) reads Twilio's Direction and hands it to the stream as a <Parameter>, so the
// outbound path only runs for calls Twilio placed as outbound. GET /calls/:callSid serves the
// counters (NaN shows as null in JSON).
//
//   node test/servers/forgetful-outbound.mjs --port 0   → "listening on ws://127.0.0.1:PORT/media"
import { listen, runIfMain } from './harness.mjs';

const FRAME_BYTES = 160;
const MULAW_SILENCE = 0xff;
/** The caller counts as silent after this many quiet frames (500 ms); then the server answers. */
const SILENCE_FRAMES_BEFORE_ANSWER = 25;
const ANSWER_FRAMES = 25;
const GREETING_FRAMES = 50;
const MAX_CALLS_KEPT = 200;

// ---- tiny G.711 mu-law codec ----------------------------------------------------------------

function mulawEncode(sample) {
  const BIAS = 0x84;
  const sign = sample < 0 ? 0x80 : 0;
  let magnitude = Math.min(Math.abs(sample), 32635) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (magnitude & mask) === 0 && exponent > 0; mask >>= 1) exponent -= 1;
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function mulawDecode(byte) {
  const value = ~byte & 0xff;
  const exponent = (value >> 4) & 0x07;
  const magnitude = (((value & 0x0f) << 3) + 0x84) << exponent;
  return value & 0x80 ? 0x84 - magnitude : magnitude - 0x84;
}

function toneFrames(count, frequency) {
  const frames = [];
  for (let f = 0; f < count; f += 1) {
    const frame = Buffer.alloc(FRAME_BYTES);
    for (let i = 0; i < FRAME_BYTES; i += 1) {
      const t = (f * FRAME_BYTES + i) / 8000;
      frame[i] = mulawEncode(Math.round(8000 * Math.sin(2 * Math.PI * frequency * t)));
    }
    frames.push(frame.toString('base64'));
  }
  return frames;
}

function isSpeech(payloadBase64) {
  const audio = Buffer.from(payloadBase64, 'base64');
  let sumSquares = 0;
  for (const byte of audio) sumSquares += mulawDecode(byte) ** 2;
  return Math.sqrt(sumSquares / Math.max(1, audio.length)) > 500;
}

// ---- calls -------------------------------------------------------------------------------

const calls = new Map();

function rememberCall(state) {
  calls.set(state.callSid, state);
  if (calls.size > MAX_CALLS_KEPT) calls.delete(calls.keys().next().value);
}

function newCallState() {
  return {
    callSid: null,
    streamSid: null,
    direction: 'inbound',
    state: 'connected',
    audioInChunks: 0,
    marksSent: 0,
    marksReceived: 0,
    dtmfReceived: 0,
    protocolErrors: 0,
    heardSpeech: false,
    silentFrames: 0,
    errors: [],
    connectedAt: new Date().toISOString(),
    startedAt: null,
    endedAt: null,
    endReason: null,
  };
}

function snapshot(state) {
  const counters = {
    audioInChunks: state.audioInChunks,
    audioOutChunks: state.audioOutChunks,
    modelAudioAppends: 0,
    modelAudioDeltas: 0,
    marksSent: state.marksSent,
    marksReceived: state.marksReceived,
    clearsSent: 0,
    dtmfReceived: state.dtmfReceived,
    bargeIns: 0,
    backlogWarnings: 0,
    modelBacklogWarnings: 0,
    protocolErrors: state.protocolErrors,
    modelReconnects: 0,
  };
  return {
    callSid: state.callSid,
    streamSid: state.streamSid,
    direction: state.direction,
    state: state.state,
    counters,
    lastBacklogWarningAt: 0,
    lastModelBacklogWarningAt: 0,
    queues: { toTwilio: 0, toModel: 0 },
    model: { backend: 'none', state: 'idle' },
    errors: state.errors,
    errorCount: state.errors.length,
    connectedAt: state.connectedAt,
    startedAt: state.startedAt,
    endedAt: state.endedAt,
    endReason: state.endReason,
  };
}

function sendMedia(ws, state, payload) {
  ws.send(JSON.stringify({ event: 'media', streamSid: state.streamSid, media: { payload } }));
  state.audioOutChunks += 1;
}

function sendMark(ws, state, name) {
  ws.send(JSON.stringify({ event: 'mark', streamSid: state.streamSid, mark: { name } }));
  state.marksSent += 1;
}

function sendGreeting(ws, state) {
  for (const payload of toneFrames(GREETING_FRAMES, 440)) sendMedia(ws, state, payload);
  state.greetingMarks.push('greeting-end');
  sendMark(ws, state, 'greeting-end');
}

function answer(ws, state) {
  for (const payload of toneFrames(ANSWER_FRAMES, 660)) sendMedia(ws, state, payload);
  sendMark(ws, state, `answer-${state.marksSent + 1}`);
}

function handleMessage(ws, state, msg) {
  switch (msg.event) {
    case 'connected':
      break;
    case 'start':
      state.callSid = msg.start.callSid;
      state.streamSid = msg.start.streamSid;
      state.direction = msg.start.customParameters?.direction === 'outbound' ? 'outbound' : 'inbound';
      state.state = 'started';
      state.startedAt = new Date().toISOString();
      rememberCall(state);
      if (state.direction === 'inbound') {
        state.audioOutChunks = 0;
      } else {
        sendGreeting(ws, state);
      }
      break;
    case 'media':
      state.audioInChunks += 1;
      if (isSpeech(msg.media.payload)) {
        state.heardSpeech = true;
        state.silentFrames = 0;
      } else if (state.heardSpeech && ++state.silentFrames === SILENCE_FRAMES_BEFORE_ANSWER) {
        state.heardSpeech = false;
        answer(ws, state);
      }
      break;
    case 'mark':
      state.marksReceived += 1;
      break;
    case 'dtmf':
      state.dtmfReceived += 1;
      break;
    case 'stop':
      state.state = 'stopped';
      state.endReason = 'stop';
      ws.close(1000, 'stream stopped');
      break;
    default:
      state.protocolErrors += 1;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

/** The voice webhook: <Connect><Stream> to /media, the call's direction as a <Parameter>. */
async function serveTwiml(req, res, url) {
  const form = new URLSearchParams(req.method === 'POST' ? await readBody(req) : url.search);
  const direction = (form.get('Direction') ?? 'inbound').startsWith('outbound') ? 'outbound' : 'inbound';
  res.writeHead(200, { 'content-type': 'text/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect>
    <Stream url="wss://${req.headers.host}/media">
      <Parameter name="direction" value="${direction}"/>
    </Stream>
  </Connect>
</Response>`);
}

function serveCalls(req, res) {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/twiml' && (req.method === 'POST' || req.method === 'GET')) {
    serveTwiml(req, res, url).catch(() => res.writeHead(500).end());
    return;
  }
  const match = /^\/calls\/([^/]+)$/.exec(url.pathname);
  let status = 404;
  let body = { error: 'not found' };
  if (req.method === 'GET' && url.pathname === '/calls') {
    status = 200;
    body = { calls: [...calls.values()].map(snapshot) };
  } else if (req.method === 'GET' && match && calls.has(match[1])) {
    status = 200;
    body = snapshot(calls.get(match[1]));
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export function start({ port = 0, host = '127.0.0.1', quiet = false } = {}) {
  return listen({
    port,
    host,
    onRequest: serveCalls,
    onConnection: (ws) => {
      const state = newCallState();
      ws.on('message', (data) => {
        try {
          handleMessage(ws, state, JSON.parse(data.toString()));
        } catch (err) {
          if (!quiet) console.error(`[call ${state.callSid ?? '?'}] error handling message:\n${err.stack}`);
          ws.close(1011, 'internal error');
        }
      });
      ws.on('close', () => {
        if (state.state !== 'stopped') state.endReason = 'socket closed';
        state.state = 'closed';
        state.endedAt = new Date().toISOString();
      });
    },
  });
}

await runIfMain(import.meta.url, start);
