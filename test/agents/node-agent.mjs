#!/usr/bin/env node
// A planted voice agent written the way the widely copied public Twilio + OpenAI Realtime samples
// are: node:http for the voice webhook, `ws` for the Media Streams socket and for the model,
// per-call state in closures, the GA Realtime protocol (audio/pcmu both ways, server VAD). It
// knows nothing of callsim: the model URL comes from the environment (CALLSIM_REALTIME_WSS_URL,
// else OpenAI's), the key from OPENAI_API_KEY, signatures are checked with the official `twilio`
// package when TWILIO_AUTH_TOKEN is set.
//
// Healthy by default, and careful the way a production agent is about interruptions: server VAD
// with interrupt_response off (the model would cancel at the first sound), and an answer is cut
// only once the caller has talked over it for half a second of voiced audio (LiveKit Agents'
// min_interruption_duration default), so a backchannel ("mm-hmm") does not stop it; a cut is
// clear + truncate at what the caller heard + response.cancel, and the cut answer's late deltas
// are dropped. `--bug NAME` (repeatable, or AGENT_BUGS=a,b) plants one real-world fault:
//   outbound-counter    per-call counters are set up on the inbound path only (Direction from the
//                       webhook, stored by CallSid): outbound calls hit a TypeError
//   drop-early-audio    caller audio is forwarded only once the model socket is open; the rest is lost
//   late-session-update session.update goes out 300 ms after the socket opens, audio already flowing
//   no-model-close      the model socket is never closed when the caller hangs up
//   stale-truncate      barge-in truncates at the audio *sent* so far, not what the caller heard
//   double-response     response.create on every speech_stopped, though server VAD already made one
//   slow-answer         holds each answer's audio 2.5 s before sending it
//   burst-deaf          treats "all audio sent" as "finished speaking": deaf to barge-in after that
//   stops-on-any-sound  clears and truncates on any caller sound while talking, a short "mm-hmm" included
//   ignores-dtmf        key presses are not passed to the model
//
// `--model-format pcm` (not a bug: a second healthy way) speaks 24 kHz PCM16 to the model, as
// agents built for the API's default format do: caller mu-law decoded and upsampled before each
// append, the model's PCM downsampled and encoded back to mu-law for Twilio (alawmulaw).
//
//   node test/agents/node-agent.mjs --port 0   → "listening on http://127.0.0.1:PORT"
import http from 'node:http';
import alawmulaw from 'alawmulaw';
import twilio from 'twilio';
import WebSocket, { WebSocketServer } from 'ws';

const KNOWN_BUGS = ['outbound-counter', 'drop-early-audio', 'late-session-update', 'no-model-close', 'stale-truncate', 'double-response', 'slow-answer', 'burst-deaf', 'stops-on-any-sound', 'ignores-dtmf'];
const REALTIME_URL = process.env.CALLSIM_REALTIME_WSS_URL ?? 'wss://api.openai.com/v1/realtime';
const MODEL = process.env.OPENAI_REALTIME_MODEL ?? 'gpt-realtime';
const AUTH_TOKEN = process.env.TWILIO_AUTH_TOKEN ?? '';
const INSTRUCTIONS = 'You are a friendly phone assistant. Keep answers short.';
const MULAW_BYTES_PER_MS = 8;
/** Voiced caller audio over an answer before it is cut: less is a backchannel. */
const MIN_INTERRUPTION_MS = 500;
const FRAME_MS = 20;

function parseArgs(argv) {
  const args = { port: Number(process.env.PORT ?? 0), host: '127.0.0.1', bugs: new Set((process.env.AGENT_BUGS ?? '').split(',').filter(Boolean)), modelFormat: 'pcmu' };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--port') args.port = Number(argv[++i]);
    else if (argv[i] === '--model-format') args.modelFormat = argv[++i];
    else if (argv[i] === '--host') args.host = argv[++i];
    else if (argv[i] === '--bug') args.bugs.add(argv[++i]);
  }
  for (const bug of args.bugs) {
    if (!KNOWN_BUGS.includes(bug)) {
      console.error(`unknown bug "${bug}" (known: ${KNOWN_BUGS.join(', ')})`);
      process.exit(2);
    }
  }
  if (args.modelFormat !== 'pcmu' && args.modelFormat !== 'pcm') {
    console.error(`unknown --model-format "${args.modelFormat}" (pcmu or pcm)`);
    process.exit(2);
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const bug = (name) => args.bugs.has(name);
const PCM = args.modelFormat === 'pcm';
const MODEL_AUDIO_FORMAT = PCM ? { type: 'audio/pcm', rate: 24000 } : { type: 'audio/pcmu' };

/** Twilio's 8 kHz mu-law to the model's format: as is, or 24 kHz PCM16 (linear interpolation). */
function toModelAudio(payloadBase64) {
  if (!PCM) return payloadBase64;
  const pcm8k = alawmulaw.mulaw.decode(Buffer.from(payloadBase64, 'base64'));
  const out = Buffer.alloc(pcm8k.length * 3 * 2);
  for (let i = 0; i < pcm8k.length; i += 1) {
    const a = pcm8k[i];
    const b = i + 1 < pcm8k.length ? pcm8k[i + 1] : a;
    for (let k = 0; k < 3; k += 1) out.writeInt16LE(Math.round(a + ((b - a) * k) / 3), (i * 3 + k) * 2);
  }
  return out.toString('base64');
}

/** The model's audio to Twilio's 8 kHz mu-law: as is, or 24 kHz PCM16 averaged down and encoded. */
function toTwilioAudio(deltaBase64) {
  if (!PCM) return deltaBase64;
  const pcm = Buffer.from(deltaBase64, 'base64');
  const samples = new Int16Array(Math.floor(pcm.length / 6));
  for (let i = 0; i < samples.length; i += 1) samples[i] = Math.round((pcm.readInt16LE(i * 6) + pcm.readInt16LE(i * 6 + 2) + pcm.readInt16LE(i * 6 + 4)) / 3);
  return Buffer.from(alawmulaw.mulaw.encode(samples)).toString('base64');
}

/** What the voice webhook told us about each call, by CallSid. */
const callsBySid = new Map();

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function twimlFor(host) {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect>
    <Stream url="wss://${host}/media-stream">
      <Parameter name="agent" value="node-sample"/>
    </Stream>
  </Connect>
</Response>`;
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname !== '/incoming-call') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const params = Object.fromEntries(new URLSearchParams(req.method === 'POST' ? await readBody(req) : url.search));
    if (AUTH_TOKEN !== '') {
      const signedUrl = `http://${req.headers.host}${req.url}`;
      if (!twilio.validateRequest(AUTH_TOKEN, req.headers['x-twilio-signature'] ?? '', signedUrl, req.method === 'POST' ? params : {})) {
        console.warn(`webhook refused: bad signature for ${signedUrl}`);
        res.writeHead(403).end();
        return;
      }
    }
    callsBySid.set(params.CallSid, { direction: params.Direction ?? 'inbound', from: params.From, to: params.To });
    console.log(`incoming call ${params.CallSid} (${params.Direction ?? 'inbound'})`);
    res.writeHead(200, { 'content-type': 'text/xml' }).end(twimlFor(req.headers.host));
  } catch (err) {
    console.error('webhook error:', err);
    res.writeHead(500).end();
  }
});

const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  if (!req.url.startsWith('/media-stream')) {
    socket.destroy();
    return;
  }
  if (AUTH_TOKEN !== '' && !twilio.validateRequest(AUTH_TOKEN, req.headers['x-twilio-signature'] ?? '', `wss://${req.headers.host}${req.url}`, {})) {
    console.warn('media stream refused: bad signature');
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => handleCall(ws));
});

function handleCall(twilioWs) {
  let streamSid = null;
  let callSid = null;
  let stats = null;
  let latestMediaTimestamp = 0;
  let sessionConfigured = false;
  const pendingAudio = [];
  const pendingKeys = [];
  // The answer being played: its model item, how much audio went out, and how much the caller
  // has heard (confirmed by the marks Twilio echoes after playing the audio before them).
  let currentItem = null;
  let sentMs = 0;
  let heardMs = 0;
  let speaking = false;
  // The caller started talking over the answer: how much voiced audio so far (null: not now).
  let interruptingMs = null;
  let cutItem = null;
  let responding = false;
  let answerAfterResponse = false;
  const marks = [];
  let markSeq = 0;
  let heldAudio = [];
  let holdUntil = null;
  // On a call it placed, the agent speaks first: right after session.update, before any caller
  // audio goes in, as the samples do (a greeting asked for later races the caller's first turn).
  let greetPending = false;

  const modelWs = new WebSocket(`${REALTIME_URL}?model=${MODEL}`, { headers: { Authorization: `Bearer ${process.env.OPENAI_API_KEY ?? ''}` } });
  const sendModel = (event) => modelWs.send(JSON.stringify(event));

  const greet = () => {
    greetPending = false;
    sendModel({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Greet the person you called.' }] } });
    createResponse();
  };

  const configureSession = () => {
    sendModel({
      type: 'session.update',
      session: {
        type: 'realtime',
        instructions: INSTRUCTIONS,
        output_modalities: ['audio'],
        audio: {
          input: { format: MODEL_AUDIO_FORMAT, turn_detection: { type: 'server_vad', interrupt_response: false } },
          output: { format: MODEL_AUDIO_FORMAT, voice: 'alloy' },
        },
      },
    });
    sessionConfigured = true;
    if (greetPending) greet();
    for (const payload of pendingAudio.splice(0)) sendModel({ type: 'input_audio_buffer.append', audio: toModelAudio(payload) });
    for (const digit of pendingKeys.splice(0)) tellKey(digit);
  };

  modelWs.on('open', () => {
    console.log(`model connected for ${callSid ?? 'a new call'}`);
    if (bug('late-session-update')) {
      sessionConfigured = true; // audio goes out as it comes; the configuration follows later
      for (const payload of pendingAudio.splice(0)) sendModel({ type: 'input_audio_buffer.append', audio: toModelAudio(payload) });
      setTimeout(configureSession, 300);
    } else {
      configureSession();
    }
  });

  const sendToTwilio = (message) => {
    if (twilioWs.readyState === WebSocket.OPEN) twilioWs.send(JSON.stringify(message));
  };

  const forwardAudio = (delta) => {
    const payload = toTwilioAudio(delta);
    sendToTwilio({ event: 'media', streamSid, media: { payload } });
    sentMs += Buffer.from(payload, 'base64').length / MULAW_BYTES_PER_MS;
    markSeq += 1;
    const name = `a${markSeq}`;
    marks.push({ name, ms: sentMs });
    sendToTwilio({ event: 'mark', streamSid, mark: { name } });
  };

  const createResponse = () => {
    // One response at a time: a second response.create while one is active is an error.
    if (responding) {
      answerAfterResponse = true;
      return;
    }
    responding = true;
    sendModel({ type: 'response.create' });
  };

  const interrupt = () => {
    interruptingMs = null;
    if (currentItem === null) return;
    const audioEndMs = bug('stale-truncate') ? sentMs : heardMs;
    // Cancel first: truncating the item still being made ends its response too.
    if (responding) sendModel({ type: 'response.cancel' });
    sendModel({ type: 'conversation.item.truncate', item_id: currentItem, content_index: 0, audio_end_ms: Math.round(audioEndMs) });
    sendToTwilio({ event: 'clear', streamSid });
    marks.length = 0;
    heldAudio = [];
    cutItem = currentItem;
    currentItem = null;
    speaking = false;
  };

  modelWs.on('message', (data) => {
    let event;
    try {
      event = JSON.parse(data.toString());
    } catch (err) {
      console.error('unparsable model event', err);
      return;
    }
    switch (event.type) {
      case 'response.created':
        responding = true;
        break;
      case 'response.output_audio.delta':
        // The answer the caller cut off may still send a few deltas: they must not play.
        if (event.item_id === cutItem) break;
        if (event.item_id !== currentItem) {
          currentItem = event.item_id;
          sentMs = 0;
          heardMs = 0;
          holdUntil = null;
        }
        speaking = true;
        if (bug('slow-answer') && holdUntil === null) {
          // The first delta of an answer starts a 2.5 s hold (a slow tool call, a cold cache).
          holdUntil = Date.now() + 2500;
          const item = currentItem;
          setTimeout(() => {
            if (currentItem === item) for (const delta of heldAudio.splice(0)) forwardAudio(delta);
          }, 2500);
        }
        if (holdUntil !== null && Date.now() < holdUntil) heldAudio.push(event.delta);
        else forwardAudio(event.delta);
        break;
      case 'response.done':
        responding = false;
        // The model has sent everything; with burst-deaf that is taken as "done speaking".
        if (bug('burst-deaf')) speaking = false;
        if (answerAfterResponse) {
          answerAfterResponse = false;
          createResponse();
        }
        break;
      case 'input_audio_buffer.speech_started':
        // Maybe an interruption: it is one once the caller has kept talking (onMedia counts).
        if (speaking) interruptingMs = 0;
        break;
      case 'input_audio_buffer.speech_stopped':
        // The caller stopped before it was an interruption: a backchannel, the answer goes on.
        interruptingMs = null;
        if (bug('double-response')) sendModel({ type: 'response.create' });
        break;
      case 'error':
        console.error(`model error for ${callSid}: ${event.error?.code}: ${event.error?.message}`);
        break;
      default:
        break;
    }
  });
  modelWs.on('error', (err) => console.error(`model socket error for ${callSid}: ${err.message}`));
  modelWs.on('close', (code) => console.log(`model socket closed for ${callSid} (${code})`));

  const onMedia = (media) => {
    latestMediaTimestamp = Number(media.timestamp);
    stats.framesIn += 1;
    if (bug('stops-on-any-sound') && speaking && isSound(media.payload)) interrupt();
    // An answer that has finished playing meanwhile has nothing left to cut.
    if (!speaking) interruptingMs = null;
    if (interruptingMs !== null && isSound(media.payload)) {
      interruptingMs += FRAME_MS;
      if (interruptingMs >= MIN_INTERRUPTION_MS) interrupt();
    }
    if (modelWs.readyState === WebSocket.OPEN && sessionConfigured) {
      sendModel({ type: 'input_audio_buffer.append', audio: toModelAudio(media.payload) });
    } else if (!bug('drop-early-audio')) {
      pendingAudio.push(media.payload);
    }
  };

  const onStart = (start) => {
    streamSid = start.streamSid;
    callSid = start.callSid;
    const call = callsBySid.get(callSid);
    // What the voice webhook said of this CallSid; Twilio's start carries only our own <Parameter>s.
    const direction = call?.direction ?? 'inbound';
    console.log(`stream ${streamSid} started for call ${callSid} (${direction})`);
    if (direction === 'inbound' || !bug('outbound-counter')) stats = { framesIn: 0, marksHeard: 0, digits: '' };
    if (direction.startsWith('outbound')) {
      greetPending = true;
      if (modelWs.readyState === WebSocket.OPEN && sessionConfigured) greet();
    }
  };

  const onMark = (name) => {
    stats.marksHeard += 1;
    const index = marks.findIndex((m) => m.name === name);
    if (index < 0) return;
    heardMs = marks[index].ms;
    marks.splice(0, index + 1);
    if (marks.length === 0 && !bug('burst-deaf')) speaking = false;
  };

  const tellKey = (digit) => {
    sendModel({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: `The caller pressed ${digit}.` }] } });
    createResponse();
  };

  const onDtmf = (digit) => {
    stats.digits += digit;
    if (bug('ignores-dtmf')) return;
    // A key pressed before the session is set up waits for it, as early audio does.
    if (modelWs.readyState === WebSocket.OPEN && sessionConfigured) tellKey(digit);
    else pendingKeys.push(digit);
  };

  twilioWs.on('message', (message) => {
    try {
      const data = JSON.parse(message.toString());
      switch (data.event) {
        case 'start':
          onStart(data.start);
          break;
        case 'media':
          onMedia(data.media);
          break;
        case 'mark':
          onMark(data.mark.name);
          break;
        case 'dtmf':
          onDtmf(data.dtmf.digit);
          break;
        case 'stop':
          console.log(`call ${callSid} stopped after ${stats.framesIn} frames (${latestMediaTimestamp} ms)`);
          break;
        default:
          break;
      }
    } catch (err) {
      console.error(`[call ${callSid}] error handling a Twilio message:\n${err.stack}`);
      twilioWs.close(1011, 'internal error');
    }
  });

  twilioWs.on('close', () => {
    console.log(`call ${callSid} disconnected`);
    if (!bug('no-model-close') && modelWs.readyState === WebSocket.OPEN) modelWs.close();
  });
}

/** Any caller sound at all (a breath, an "mm-hmm"): what stops-on-any-sound reacts to. */
function isSound(payloadBase64) {
  const audio = Buffer.from(payloadBase64, 'base64');
  let loud = 0;
  // mu-law bytes far from 0xff / 0x7f are far from zero amplitude.
  for (const byte of audio) if ((byte & 0x7f) < 0x60) loud += 1;
  return loud > audio.length / 8;
}

server.listen(args.port, args.host, () => {
  console.log(`listening on http://${args.host}:${server.address().port} (bugs: ${[...args.bugs].join(', ') || 'none'})`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const client of wss.clients) client.terminate();
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
