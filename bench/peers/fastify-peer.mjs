#!/usr/bin/env node
// A peer for the benchmark, written the way the widely copied public Node sample of a Twilio +
// OpenAI Realtime agent is: fastify with @fastify/formbody and @fastify/websocket, the voice
// webhook at /incoming-call answering <Connect><Stream>, and per call one `ws` socket to the
// model, every message through a JSON.parse and a JSON.stringify, a mark after every audio
// delta, barge-in by truncate and clear. Where the sample loses audio (caller frames that come
// before the model socket is open, a session.update sent 100 ms late) this peer queues them, so
// that it is honest: every caller frame reaches the model, every answer is played. The GA
// Realtime protocol (audio/pcmu both ways); the model URL from CALLSIM_REALTIME_URL, as
// `callsim load --server-cmd` gives it.
//
//   CALLSIM_REALTIME_URL=ws://... node bench/peers/fastify-peer.mjs --port 0
import Fastify from 'fastify';
import fastifyFormBody from '@fastify/formbody';
import fastifyWs from '@fastify/websocket';
import WebSocket from 'ws';

const MODEL_URL = process.env.CALLSIM_REALTIME_URL ?? 'wss://api.openai.com/v1/realtime';
const API_KEY = process.env.OPENAI_API_KEY ?? '';
const PORT = Number(process.argv.includes('--port') ? process.argv[process.argv.indexOf('--port') + 1] : (process.env.PORT ?? 5050));
const SYSTEM_MESSAGE = 'You are a helpful phone assistant. Keep answers short.';

const fastify = Fastify();
fastify.register(fastifyFormBody);
fastify.register(fastifyWs);

fastify.all('/incoming-call', async (request, reply) => {
  const twiml = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Connect>
    <Stream url="wss://${request.headers.host}/media-stream" />
  </Connect>
</Response>`;
  reply.type('text/xml').send(twiml);
});

fastify.register(async (app) => {
  app.get('/media-stream', { websocket: true }, (connection) => {
    let streamSid = null;
    let latestMediaTimestamp = 0;
    let lastAssistantItem = null;
    let markQueue = [];
    let responseStartTimestamp = null;
    let sessionReady = false;
    const early = [];

    const openAiWs = new WebSocket(`${MODEL_URL}?model=gpt-realtime`, { headers: { Authorization: `Bearer ${API_KEY}` } });

    const initializeSession = () => {
      const sessionUpdate = {
        type: 'session.update',
        session: {
          type: 'realtime',
          model: 'gpt-realtime',
          output_modalities: ['audio'],
          audio: {
            input: { format: { type: 'audio/pcmu' }, turn_detection: { type: 'server_vad' } },
            output: { format: { type: 'audio/pcmu' }, voice: 'alloy' },
          },
          instructions: SYSTEM_MESSAGE,
        },
      };
      openAiWs.send(JSON.stringify(sessionUpdate));
      sessionReady = true;
      for (const audio of early.splice(0)) openAiWs.send(JSON.stringify({ type: 'input_audio_buffer.append', audio }));
    };

    const handleSpeechStartedEvent = () => {
      if (markQueue.length > 0 && responseStartTimestamp !== null) {
        const elapsedTime = latestMediaTimestamp - responseStartTimestamp;
        if (lastAssistantItem) {
          openAiWs.send(JSON.stringify({ type: 'conversation.item.truncate', item_id: lastAssistantItem, content_index: 0, audio_end_ms: elapsedTime }));
        }
        connection.send(JSON.stringify({ event: 'clear', streamSid }));
        markQueue = [];
        lastAssistantItem = null;
        responseStartTimestamp = null;
      }
    };

    const sendMark = () => {
      if (!streamSid) return;
      connection.send(JSON.stringify({ event: 'mark', streamSid, mark: { name: 'responsePart' } }));
      markQueue.push('responsePart');
    };

    openAiWs.on('open', initializeSession);

    openAiWs.on('message', (data) => {
      try {
        const response = JSON.parse(data);
        if (response.type === 'response.output_audio.delta' && response.delta) {
          connection.send(JSON.stringify({ event: 'media', streamSid, media: { payload: Buffer.from(response.delta, 'base64').toString('base64') } }));
          if (responseStartTimestamp === null) responseStartTimestamp = latestMediaTimestamp;
          if (response.item_id) lastAssistantItem = response.item_id;
          sendMark();
        }
        if (response.type === 'input_audio_buffer.speech_started') handleSpeechStartedEvent();
        if (response.type === 'error') console.error('model error:', response.error?.message);
      } catch (error) {
        console.error('Error processing model message:', error);
      }
    });

    connection.on('message', (message) => {
      try {
        const data = JSON.parse(message);
        switch (data.event) {
          case 'media': {
            latestMediaTimestamp = Number(data.media.timestamp);
            if (openAiWs.readyState === WebSocket.OPEN && sessionReady) openAiWs.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: data.media.payload }));
            else early.push(data.media.payload);
            break;
          }
          case 'start':
            streamSid = data.start.streamSid;
            responseStartTimestamp = null;
            latestMediaTimestamp = 0;
            break;
          case 'mark':
            if (markQueue.length > 0) markQueue.shift();
            break;
          case 'stop':
            connection.close(1000, 'stream stopped');
            break;
          default:
            break;
        }
      } catch (error) {
        console.error('Error parsing message:', error);
      }
    });

    connection.on('close', () => {
      if (openAiWs.readyState === WebSocket.OPEN || openAiWs.readyState === WebSocket.CONNECTING) openAiWs.close();
    });
    openAiWs.on('error', (error) => console.error('model socket error:', error.message));
  });
});

fastify.listen({ port: PORT, host: '127.0.0.1' }, (err, address) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.log(`listening on ${address}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => void fastify.close().then(() => process.exit(0)));
