// An agent on @openai/agents-realtime (the OpenAI Agents SDK's realtime package) as its docs
// show it: a RealtimeAgent with a tool, a RealtimeSession over the websocket transport, audio
// in with sendAudio. The simulator's URL comes from the environment and NODE_EXTRA_CA_CERTS
// trusts its certificate. It prints one JSON line: the transport's raw server events, the
// session's history, the tool calls it ran, and the audio it heard.
import { RealtimeAgent, RealtimeSession, tool } from '@openai/agents-realtime';
import { z } from 'zod';

const calls = [];
const bookTable = tool({
  name: 'book_table',
  description: 'Book a table',
  parameters: z.object({ people: z.number() }),
  execute: async ({ people }) => {
    calls.push({ people });
    return `Booked for ${people}.`;
  },
});
const agent = new RealtimeAgent({ name: 'host', instructions: 'You book tables.', tools: [bookTable] });
const session = new RealtimeSession(agent, { transport: 'websocket', model: 'gpt-realtime' });
const events = [];
let audioBytes = 0;
let interrupted = 0;
session.transport.on('*', (event) => events.push(event));
session.on('audio', (event) => (audioBytes += event.data.byteLength));
session.on('audio_interrupted', () => (interrupted += 1));
session.on('error', () => {});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(predicate, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
const count = (type) => events.filter((e) => e.type === type).length;
// 24 kHz PCM, the SDK's default format: 20 ms of a 400 Hz tone, or of silence.
function pcm(loud) {
  const out = new Int16Array(480);
  if (loud) for (let i = 0; i < out.length; i++) out[i] = Math.round(8000 * Math.sin((2 * Math.PI * 400 * i) / 24000));
  return out.buffer;
}
async function speak(loudMs, quietMs) {
  for (let t = 0; t < loudMs; t += 20) session.sendAudio(pcm(true));
  for (let t = 0; t < quietMs; t += 20) session.sendAudio(pcm(false));
}

let error;
try {
  await session.connect({ apiKey: 'sk-test-agents', url: `${process.env.CALLSIM_REALTIME_WSS_URL}?model=gpt-realtime` });
  await until(() => count('session.updated') >= 1, 'session.updated');
  // Turn 1 (script: a tool call): the caller asks; the SDK runs the tool and asks again.
  await speak(400, 1500);
  await until(() => calls.length === 1 && count('response.done') >= 2, 'the tool call and the answer after it');
  // Turn 2: talk over the answer: the SDK truncates, then retrieves the item.
  await speak(400, 1500);
  await until(() => count('response.created') >= 3, 'the third answer');
  const third = events.filter((e) => e.type === 'response.created')[2].response.id;
  await until(() => events.some((e) => e.type === 'response.output_audio.delta' && e.response_id === third), 'audio of the third answer');
  await speak(200, 0);
  await until(() => count('conversation.item.truncated') >= 1 && count('conversation.item.retrieved') >= 1, 'truncate and retrieve');
} catch (err) {
  error = err instanceof Error ? err.message : String(err);
}
const history = session.history.map((item) => ({ type: item.type, role: item.role ?? null, status: item.status ?? null, name: item.name ?? null }));
session.close();
process.stdout.write(`${JSON.stringify({ events, history, calls, audioBytes, interrupted, ...(error ? { error } : {}) })}\n`);
