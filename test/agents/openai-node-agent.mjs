// An agent on the openai Node SDK exactly as a team would write one: `new OpenAI()` reads
// OPENAI_API_KEY and OPENAI_BASE_URL, OpenAIRealtimeWS dials wss:// from that base URL, and the
// only thing that makes the simulator's certificate trusted is NODE_EXTRA_CA_CERTS. No
// createConnection, no agent option. Runs the scenarios named on the command line and prints
// one JSON line per scenario: { name, events: [every server event received], error? }.
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const client = new OpenAI();
const MODEL = 'gpt-realtime';

function frame(loud) {
  const out = Buffer.alloc(160, 0xff);
  if (loud) for (let i = 0; i < 160; i++) out[i] = i % 16 < 8 ? 0x1f : 0x9f;
  return out.toString('base64');
}

async function connect() {
  const rt = new OpenAIRealtimeWS({ model: MODEL }, client);
  const events = [];
  const waiters = [];
  rt.on('event', (event) => {
    events.push(event);
    for (const w of waiters.splice(0)) w();
  });
  rt.on('error', () => {}); // errors are events too; the scenarios read them from `events`
  await new Promise((resolve, reject) => {
    rt.socket.once('open', resolve);
    rt.socket.once('error', reject);
  });
  const until = async (predicate, what, timeoutMs = 8000) => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(events)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
  };
  const count = (type) => events.filter((e) => e.type === type).length;
  const next = (type, n = 1) => until(() => count(type) >= n, `${n} ${type}`).then(() => events.filter((e) => e.type === type)[n - 1]);
  return { rt, events, until, next, count };
}

const pcmu = (turnDetection) => ({
  type: 'realtime',
  instructions: 'You are a restaurant booking agent.',
  audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: turnDetection }, output: { format: { type: 'audio/pcmu' }, voice: 'marin' } },
});

const scenarios = {
  async 'vad-turn'({ rt, next }) {
    rt.send({ type: 'session.update', session: pcmu({ type: 'server_vad', silence_duration_ms: 300 }) });
    await next('session.updated');
    for (let i = 0; i < 15; i++) rt.send({ type: 'input_audio_buffer.append', audio: frame(true) });
    for (let i = 0; i < 25; i++) rt.send({ type: 'input_audio_buffer.append', audio: frame(false) });
    await next('response.done');
  },
  async 'barge-in'({ rt, next, events }) {
    rt.send({ type: 'session.update', session: pcmu({ type: 'server_vad', silence_duration_ms: 300 }) });
    await next('session.updated');
    rt.send({ type: 'response.create' });
    const first = await next('response.output_audio.delta');
    for (let i = 0; i < 5; i++) rt.send({ type: 'input_audio_buffer.append', audio: frame(true) });
    await next('response.done');
    const heardMs = events.filter((e) => e.type === 'response.output_audio.delta').reduce((n, e) => n + Buffer.from(e.delta, 'base64').length / 8, 0);
    rt.send({ type: 'conversation.item.truncate', item_id: first.item_id, content_index: 0, audio_end_ms: Math.min(60, Math.floor(heardMs)) });
    await next('conversation.item.truncated');
  },
  async manual({ rt, next }) {
    rt.send({ type: 'session.update', session: pcmu(null) });
    await next('session.updated');
    // A false start the agent throws away first.
    rt.send({ type: 'input_audio_buffer.append', audio: frame(true) });
    rt.send({ type: 'input_audio_buffer.clear' });
    await next('input_audio_buffer.cleared');
    for (let i = 0; i < 15; i++) rt.send({ type: 'input_audio_buffer.append', audio: frame(true) });
    rt.send({ type: 'input_audio_buffer.commit' });
    await next('input_audio_buffer.committed');
    rt.send({ type: 'response.create' });
    await next('response.done');
  },
  async 'function-call'({ rt, next }) {
    const tool = { type: 'function', name: 'book_table', description: 'Book a table', parameters: { type: 'object', properties: { people: { type: 'integer' } } } };
    rt.send({ type: 'session.update', session: { ...pcmu(null), tools: [tool], tool_choice: 'auto' } });
    await next('session.updated');
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'A table for two, please.' }] } });
    rt.send({ type: 'response.create' });
    const done = await next('response.done');
    const call = done.response.output.find((o) => o.type === 'function_call');
    rt.send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: call.call_id, output: JSON.stringify({ booked: true }) } });
    rt.send({ type: 'response.create' });
    await next('response.done', 2);
  },
  async idle({ rt, next }) {
    rt.send({ type: 'session.update', session: pcmu({ type: 'server_vad', idle_timeout_ms: 200 }) });
    await next('session.updated');
    rt.send({ type: 'response.create' });
    await next('input_audio_buffer.timeout_triggered');
    await next('response.done', 2);
  },
  async text({ rt, next }) {
    rt.send({ type: 'session.update', session: { type: 'realtime', output_modalities: ['text'] } });
    await next('session.updated');
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Say hi in three words' }] } });
    rt.send({ type: 'response.create' });
    await next('response.done');
  },
  async 'item-create'({ rt, next }) {
    rt.send({ type: 'session.update', session: pcmu(null) });
    await next('session.updated');
    // A greeting the agent seeds, then asks the model to speak first.
    rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'Greet the caller.' }] } });
    const added = await next('conversation.item.added');
    rt.send({ type: 'conversation.item.retrieve', item_id: added.item.id });
    await next('conversation.item.retrieved');
    rt.send({ type: 'response.create' });
    await next('response.done');
    rt.send({ type: 'conversation.item.delete', item_id: added.item.id });
    await next('conversation.item.deleted');
  },
  async errors({ rt, next }) {
    rt.send({ type: 'session.update', session: pcmu(null) });
    await next('session.updated');
    rt.send({ type: 'input_audio_buffer.commit', event_id: 'evt_commit' });
    rt.send({ type: 'response.cancel', event_id: 'evt_cancel' });
    rt.send({ type: 'conversation.item.truncate', event_id: 'evt_truncate', item_id: 'item_unknown', content_index: 0, audio_end_ms: 10 });
    rt.send({ type: 'session.update', event_id: 'evt_update', session: { type: 'realtime', modalities: ['audio'] } });
    rt.send({ type: 'response.create', event_id: 'evt_first' });
    await next('response.created');
    rt.send({ type: 'response.create', event_id: 'evt_second' });
    await next('error', 5);
    await next('response.done');
  },
};

for (const name of process.argv.slice(2)) {
  const session = await connect();
  let error;
  try {
    await scenarios[name](session);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  }
  session.rt.close();
  process.stdout.write(`${JSON.stringify({ name, events: session.events, ...(error ? { error } : {}) })}\n`);
}
