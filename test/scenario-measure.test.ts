// The conversation's measurements against planted servers that each do one thing on purpose
// (answer late, leave dead air, talk over the caller, burst, clear on cue), beside a twin that
// does it right: each figure must show the planted fault and stay clean for the twin, within the
// few ms the event loop costs. Direct mode (no webhook), real sockets on loopback.
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import wavefile from 'wavefile';
import { WebSocketServer, type WebSocket } from 'ws';
import { FRAME_BYTES } from '../src/audio/format.js';
import { mulawRms } from '../src/audio/g711.js';
import type { ReplayReport } from '../src/caller/replay.js';
import { parseScenario } from '../src/scenario/load.js';
import { runScenario } from '../src/scenario/run.js';

const dir = mkdtempSync(join(tmpdir(), 'callsim-measure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
});

/** A tone the caller hears as agent speech (mu-law 0x00 is full scale; any loud byte will do). */
const LOUD = Buffer.alloc(FRAME_BYTES, 0x10);

interface PlantedCall {
  ws: WebSocket;
  streamSid: string;
  /** Sends `ms` of agent audio now, as one frame per 20 ms in one go (a burst) or paced in real time. */
  say(ms: number, paced?: boolean): void;
  clear(): void;
}

/** A Media Streams server: `onFrame` sees each caller frame (its 1-based chunk number and whether it is voiced). */
async function planted(behave: { onStart?: (call: PlantedCall) => void; onFrame?: (call: PlantedCall, chunk: number, voiced: boolean) => void; onDtmf?: (call: PlantedCall) => void }): Promise<string> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const timers = new Set<NodeJS.Timeout>();
  wss.on('connection', (ws) => {
    let call: PlantedCall | null = null;
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as { event: string; start?: { streamSid: string }; media?: { payload: string; chunk: string } };
      if (message.event === 'start') {
        const streamSid = message.start!.streamSid;
        const frame = (): void => void (ws.readyState === ws.OPEN && ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload: LOUD.toString('base64') } })));
        call = {
          ws,
          streamSid,
          say: (ms, paced = false) => {
            const frames = Math.round(ms / 20);
            if (!paced) for (let i = 0; i < frames; i++) frame();
            else for (let i = 0; i < frames; i++) {
              const timer = setTimeout(() => {
                timers.delete(timer);
                frame();
              }, i * 20);
              timers.add(timer);
            }
          },
          clear: () => ws.send(JSON.stringify({ event: 'clear', streamSid })),
        };
        behave.onStart?.(call);
      } else if (message.event === 'media' && call !== null) {
        behave.onFrame?.(call, Number(message.media!.chunk), mulawRms(Buffer.from(message.media!.payload, 'base64')) > 0.01);
      } else if (message.event === 'dtmf' && call !== null) {
        behave.onDtmf?.(call);
      } else if (message.event === 'stop') {
        ws.close(1000);
      }
    });
  });
  closers.push(() => new Promise<void>((resolve) => {
    for (const timer of timers) clearTimeout(timer);
    for (const client of wss.clients) client.terminate();
    wss.close(() => resolve());
  }));
  return `ws://127.0.0.1:${(wss.address() as { port: number }).port}/media`;
}

/** Calls of the planted server after `ms`; cleared by the server's close. */
const later = (ms: number, fn: () => void): void => void setTimeout(fn, ms);

/** The question clip's last voiced frame is frame 87 (chunk 88): what the planted servers answer after. */
const QUESTION_LAST_CHUNK = 88;

function scenario(name: string, lines: string[]): ReturnType<typeof parseScenario> {
  return parseScenario([`name: ${name}`, 'steps:', ...lines].join('\n'), 'fixtures/scenarios/planted.yaml');
}

function run(url: string, lines: string[], extra: { recordPath?: string } = {}): Promise<ReplayReport> {
  return runScenario({ scenario: scenario('planted', lines), url, webhook: null, timing: { mode: 'realtime', speed: 1 }, ...extra });
}

const QUESTION = ['  - say: ../speech/question.wav', '    expect: { agent_audio_within_ms: 1000 }', '  - wait_for: agent_audio', '  - wait_for: agent_silence', '    quiet_ms: 300'];

describe('conversation measurements against planted servers', () => {
  it('response latency: the end of the caller\'s words to the first audio heard — an agent 1.5 s late fails 1000 ms, its twin at 300 ms passes', async () => {
    const answerAfter = (ms: number) => planted({ onFrame: (call, chunk) => chunk === QUESTION_LAST_CHUNK && later(ms, () => call.say(600)) });
    const [late, prompt] = await Promise.all([run(await answerAfter(1500), QUESTION), run(await answerAfter(300), QUESTION)]);
    const lateTurn = late.conversation!.turns[0]!;
    const promptTurn = prompt.conversation!.turns[0]!;
    // The server answers after it received the last voiced frame: the wire adds nothing on loopback.
    expect(lateTurn.responseMs).toBeGreaterThanOrEqual(1500);
    expect(lateTurn.responseMs).toBeLessThan(1500 + 60);
    expect(promptTurn.responseMs).toBeGreaterThanOrEqual(300);
    expect(promptTurn.responseMs).toBeLessThan(300 + 60);
    expect(late.failures).toEqual([expect.stringMatching(/^the caller waited 15\d\d ms for the agent to answer \(expected within 1000 ms\) — step 1 \(say question\.wav\)$/)]);
    expect(prompt.failures).toEqual([]);
    // No model record for a server callsim does not host: the split is said to be missing, not 0.
    expect(promptTurn.split).toBeNull();
    expect(prompt.conversation!.split.source).toBeNull();
  }, 30_000);

  it('dead air: a gap the playout could not cover inside one answer is measured; a gapless twin has none', async () => {
    const gappy = await planted({ onFrame: (call, chunk) => chunk === QUESTION_LAST_CHUNK && (call.say(400), later(1100, () => call.say(400))) });
    const whole = await planted({ onFrame: (call, chunk) => chunk === QUESTION_LAST_CHUNK && (call.say(400), later(300, () => call.say(400))) });
    const [a, b] = await Promise.all([run(gappy, QUESTION), run(whole, QUESTION)]);
    expect(a.conversation!.answers).toHaveLength(1);
    expect(a.conversation!.answers[0]!.deadAir).toHaveLength(1);
    expect(a.conversation!.figures.deadAirMs).toBeGreaterThan(700 - 40);
    expect(a.conversation!.figures.deadAirMs).toBeLessThan(700 + 40);
    expect(b.conversation!.figures.deadAirMs).toBe(0);
  }, 30_000);

  it('talk-over: an agent that starts while the caller is still talking; the twin waits for the end', async () => {
    const eager = await planted({ onFrame: (call, chunk) => chunk === 30 && call.say(600) });
    const patient = await planted({ onFrame: (call, chunk) => chunk === QUESTION_LAST_CHUNK && later(200, () => call.say(600)) });
    const lines = ['  - say: ../speech/question.wav', '    expect: { agent_audio_within_ms: 1000 }', '  - wait: 1.5'];
    const [a, b] = await Promise.all([run(eager, lines), run(patient, lines)]);
    expect(a.conversation!.turns[0]!.talkOverMs).toBeGreaterThan(500);
    // It talked over the caller and was silent by the end of the words: no new audio after the cue.
    expect(a.conversation!.turns[0]!.responseMs).toBeNull();
    expect(a.failures.join('\n')).toMatch(/the caller never heard an answer/);
    expect(b.conversation!.turns[0]!.talkOverMs).toBe(0);
    expect(b.failures).toEqual([]);
  }, 30_000);

  it('burst sending: 3 s of audio in one go is far faster than real time and heard long after it was all sent; the paced twin is real time', async () => {
    const burst = await planted({ onFrame: (call, chunk) => chunk === QUESTION_LAST_CHUNK && call.say(3000) });
    const paced = await planted({ onFrame: (call, chunk) => chunk === QUESTION_LAST_CHUNK && call.say(3000, true) });
    const [a, b] = await Promise.all([run(burst, QUESTION), run(paced, QUESTION)]);
    expect(a.conversation!.figures.burstFactor).toBeGreaterThan(20);
    expect(a.conversation!.figures.listeningAfterSendMs).toBeGreaterThan(2800);
    expect(b.conversation!.figures.burstFactor).toBeGreaterThan(0.9);
    expect(b.conversation!.figures.burstFactor).toBeLessThan(1.2);
    expect(b.conversation!.figures.listeningAfterSendMs).toBeLessThan(100);
  }, 30_000);

  const BARGE_IN = ['  - say: ../speech/question.wav', '  - say: ../speech/interruption.wav', '    while_agent_speaks: true', '    after_ms: 500', '    expect: { clear_within_ms: 800 }', '  - wait_for: agent_silence', '    quiet_ms: 300'];

  it('barge-in reaction: a clear 300 ms after the caller cuts in is measured as such; a twin that never clears is heard to the end', async () => {
    const clearing = await planted({
      onFrame: (call, chunk, voiced) => {
        if (chunk === QUESTION_LAST_CHUNK) call.say(4000);
        // The interruption begins 500 ms into the answer; the server reacts 300 ms after its first voiced frame.
        if (chunk > QUESTION_LAST_CHUNK + 20 && voiced && !(call as PlantedCall & { cut?: boolean }).cut) {
          (call as PlantedCall & { cut?: boolean }).cut = true;
          later(300, () => call.clear());
        }
      },
    });
    const deaf = await planted({ onFrame: (call, chunk) => chunk === QUESTION_LAST_CHUNK && call.say(4000) });
    const recording = join(dir, 'barge-in.wav');
    const [a, b] = await Promise.all([run(clearing, BARGE_IN, { recordPath: recording }), run(deaf, BARGE_IN)]);
    const reaction = a.conversation!.turns.find((t) => t.kind === 'barge-in')!.bargeIn!;
    expect(reaction.by).toBe('clear');
    expect(reaction.reactionMs).toBeGreaterThanOrEqual(300);
    expect(reaction.reactionMs).toBeLessThan(300 + 60);
    expect(a.failures).toEqual([]);
    const never = b.conversation!.turns.find((t) => t.kind === 'barge-in')!.bargeIn!;
    expect(never.by).toBe('audio-stopped');
    expect(never.reactionMs).toBeGreaterThan(3000);
    expect(b.failures).toEqual([expect.stringMatching(/^the agent kept talking for 3\d\d\d ms after the caller interrupted \(expected to stop within 800 ms: a clear, or its audio ending\) — step 2 \(say interruption\.wav over the agent\)$/)]);

    // The stereo recording, on one clock: the caller on the left, the agent on the right as heard,
    // with what the clear cut left out.
    const wav = new wavefile.WaveFile(readFileSync(recording));
    expect(wav.fmt).toMatchObject({ numChannels: 2, sampleRate: 8000, bitsPerSample: 16 });
    const [left, right] = wav.getSamples(false, Int16Array) as unknown as [Int16Array, Int16Array];
    const loud = (channel: Int16Array, fromMs: number, toMs: number): boolean => channel.subarray(fromMs * 8, toMs * 8).some((s) => Math.abs(s) > 1000);
    const conversation = a.conversation!;
    const answerAt = conversation.answers[0]!.startAt;
    const clearAt = conversation.answers[0]!.endAt;
    expect(conversation.answers[0]!.cleared).toBe(true);
    expect(loud(left, 0, 1500)).toBe(true);
    expect(loud(right, 0, Math.floor(answerAt) - 20)).toBe(false);
    expect(loud(right, Math.ceil(answerAt) + 20, Math.floor(clearAt) - 20)).toBe(true);
    // The 4 s answer was cut about 800 ms in: the rest was never heard, so it is not in the recording.
    expect(loud(right, Math.ceil(clearAt) + 40, Math.ceil(clearAt) + 2500)).toBe(false);
    const interruptionAt = conversation.steps.find((s) => s.number === 2)!.speech!.startAt;
    expect(loud(left, Math.ceil(interruptionAt), Math.ceil(interruptionAt) + 400)).toBe(true);
  }, 30_000);

  it('a backchannel: an agent that clears at any sound yields (a false yield); its twin keeps talking', async () => {
    const BACKCHANNEL = ['  - say: ../speech/question.wav', '  - backchannel: ../speech/mm-hmm.wav', '    after_ms: 300', '    expect: { agent_keeps_talking: true }', '  - wait_for: agent_silence', '    quiet_ms: 300'];
    const jumpy = await planted({
      onFrame: (call, chunk, voiced) => {
        if (chunk === QUESTION_LAST_CHUNK) call.say(3000);
        if (chunk > QUESTION_LAST_CHUNK + 10 && voiced && !(call as PlantedCall & { cut?: boolean }).cut) {
          (call as PlantedCall & { cut?: boolean }).cut = true;
          call.clear();
        }
      },
    });
    const steady = await planted({ onFrame: (call, chunk) => chunk === QUESTION_LAST_CHUNK && call.say(3000) });
    const [a, b] = await Promise.all([run(jumpy, BACKCHANNEL), run(steady, BACKCHANNEL)]);
    expect(a.conversation!.figures.falseYields).toBe(1);
    expect(a.failures).toEqual([expect.stringMatching(/^the agent stopped for a backchannel \(a false yield\): it sent a clear \d+ ms after it began — step 2 \(backchannel mm-hmm\.wav\)$/)]);
    expect(b.conversation!.figures.falseYields).toBe(0);
    expect(b.failures).toEqual([]);
  }, 30_000);

  it('no_agent_audio_for_ms: an agent that speaks after a key fails it; a quiet one passes; a step that never starts fails its expectations', async () => {
    const KEYS = ['  - dtmf: "5"', '    expect: { no_agent_audio_for_ms: 800 }', '  - wait: 1'];
    const chatty = await planted({ onDtmf: (call) => later(200, () => call.say(400)) });
    const quiet = await planted({});
    const [a, b] = await Promise.all([run(chatty, KEYS), run(quiet, KEYS)]);
    expect(a.failures).toEqual([expect.stringMatching(/^the agent spoke 2\d\d ms after the cue \(expected silence for 800 ms\) — step 1 \(dtmf 5\)$/)]);
    expect(b.failures).toEqual([]);
    // A barge-in the agent never gives a chance for: the caller gives up, and the step fails where it stopped.
    const silent = await run(quiet, ['  - say: ../speech/interruption.wav', '    while_agent_speaks: true', '    timeout_ms: 600', '    expect: { clear_within_ms: 500 }']);
    expect(silent.failures).toEqual([
      expect.stringMatching(/^the caller gave up at step 1 \(say interruption\.wav over the agent\): the agent was not talking within 600 ms/),
      expect.stringMatching(/step 1 \(say interruption\.wav over the agent\) never finished — it timed out, so clear_within_ms could not be met/),
    ]);
  }, 30_000);
});
