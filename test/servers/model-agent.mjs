#!/usr/bin/env node
// Planted fault for `callsim load`'s model-leg witness: a minimal voice agent on `ws` that
// bridges each call to the realtime model named by CALLSIM_REALTIME_URL (one model socket per
// call, audio queued until it is open, the GA protocol with audio/pcmu) and plays the model's
// answers back. With --lose-every N it forwards all but every Nth caller frame to the model: a
// loss only the model side can see, since the Twilio leg is intact. Without it: the healthy twin.
//
//   CALLSIM_REALTIME_URL=ws://... node test/servers/model-agent.mjs --port 0 [--lose-every 10]
import WebSocket from 'ws';
import { listen, runIfMain } from './harness.mjs';

const MODEL_URL = process.env.CALLSIM_REALTIME_URL;

export function start({ port = 0, host = '127.0.0.1', loseEvery = 0 } = {}) {
  if (!MODEL_URL) throw new Error('CALLSIM_REALTIME_URL is not set');
  return listen({
    port,
    host,
    onConnection: (twilio) => {
      let streamSid = null;
      let frames = 0;
      const pending = [];
      const model = new WebSocket(`${MODEL_URL}?model=gpt-realtime`, { headers: { Authorization: `Bearer ${process.env.OPENAI_API_KEY ?? ''}` } });
      const toModel = (event) => model.send(JSON.stringify(event));
      model.on('open', () => {
        toModel({ type: 'session.update', session: { type: 'realtime', output_modalities: ['audio'], audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad' } }, output: { format: { type: 'audio/pcmu' }, voice: 'alloy' } } } });
        for (const audio of pending.splice(0)) toModel({ type: 'input_audio_buffer.append', audio });
      });
      model.on('message', (data) => {
        const event = JSON.parse(data.toString());
        if (event.type === 'response.output_audio.delta' && twilio.readyState === WebSocket.OPEN) {
          twilio.send(JSON.stringify({ event: 'media', streamSid, media: { payload: event.delta } }));
        }
      });
      model.on('error', (err) => console.error(`model socket: ${err.message}`));
      twilio.on('message', (data) => {
        const msg = JSON.parse(data.toString());
        if (msg.event === 'start') streamSid = msg.start.streamSid;
        else if (msg.event === 'media') {
          frames += 1;
          if (loseEvery > 0 && frames % loseEvery === 0) return;
          if (model.readyState === WebSocket.OPEN) toModel({ type: 'input_audio_buffer.append', audio: msg.media.payload });
          else pending.push(msg.media.payload);
        } else if (msg.event === 'stop') twilio.close(1000, 'stream stopped');
      });
      twilio.on('close', () => model.close());
    },
  });
}

const flag = process.argv.indexOf('--lose-every');
const loseEvery = flag > 0 ? Number(process.argv[flag + 1]) : 0;
await runIfMain(import.meta.url, (args) => start({ ...args, loseEvery }));
