// The call coordinator with its real parts, driven through a fake Twilio socket, a fake model
// and a hand-driven ticker: whole calls without a network, each path's end state checked. The
// socket tests (server.test.ts, faults.test.ts, ...) remain the proof over real sockets.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Call } from '../src/server/call/call.js';
import type { CallConfig } from '../src/server/call/config.js';
import { FakeSocket, FakeTicker, audio, fakeModel, keptLog, testConfig } from './helpers/call-fakes.js';

function call(config: Partial<CallConfig> = {}) {
  const socket = new FakeSocket();
  const model = fakeModel();
  const ticker = new FakeTicker();
  const log = keptLog();
  const finished: Array<ReturnType<Call['snapshot']>> = [];
  const c = new Call({ socket, modelFactory: model.factory, modelBackend: 'simulator', ticker, logger: log.logger, config: testConfig({ sendLeadMs: 10_000, ...config }), admitStart: () => null, onFinished: (done) => finished.push(done.snapshot()) });
  const start = (direction: 'inbound' | 'outbound' = 'inbound'): void => {
    socket.message({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    socket.message({ event: 'start', sequenceNumber: '1', streamSid: 'MZ1', start: { callSid: 'CA1', streamSid: 'MZ1', accountSid: 'AC1', tracks: ['inbound'], customParameters: { direction } } });
  };
  const media = (payload = audio(160)): void => socket.message({ event: 'media', sequenceNumber: '2', streamSid: 'MZ1', media: { track: 'inbound', chunk: '1', timestamp: '0', payload } });
  return { c, socket, model, ticker, log, finished, start, media };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('a call, end to end through its parts', () => {
  it('inbound: early media waits for the model, the answer plays with its marks, stop ends it once', () => {
    const { c, socket, model, ticker, finished, start, media, log } = call();
    start('inbound');
    expect(c.phase).toBe('live');
    for (let i = 0; i < 3; i++) media(audio(160, i));
    const session = model.last();
    expect(session.appended).toEqual([]);
    expect(c.snapshot().queues.toModel).toBe(3);
    session.ready();
    // Inbound: the caller speaks first; the model does not greet.
    expect(session.responsesCreated).toBe(0);
    expect(session.appended).toEqual([0, 1, 2].map((i) => audio(160, i)));
    media(audio(160, 3));
    expect(session.appended).toHaveLength(4);

    session.listener.onAudioDelta(audio(160 * 11), 'item_1');
    session.listener.onResponseDone('completed');
    ticker.tick(0);
    // 220 ms: two 100 ms chunks, the mark at 200, the last frame and the end mark.
    expect(socket.events()).toEqual(['media', 'media', 'mark 1:200', 'media', 'mark 1:220']);
    socket.message({ event: 'mark', streamSid: 'MZ1', mark: { name: '1:200' } });

    socket.message({ event: 'stop', streamSid: 'MZ1', stop: { accountSid: 'AC1', callSid: 'CA1' } });
    expect(c.phase).toBe('stopped');
    expect(socket.closedWith).toEqual({ code: 1000, reason: 'stop' });
    expect(session.closedByCall).toBe(true);
    expect(ticker.subscribers.size).toBe(0);
    expect(finished).toHaveLength(1);
    const snapshot = finished[0];
    expect(snapshot).toMatchObject({ callSid: 'CA1', streamSid: 'MZ1', direction: 'inbound', state: 'stopped', endReason: 'stop', errors: [], model: { backend: 'simulator', state: 'closed' } });
    expect(snapshot?.counters).toMatchObject({ audioInChunks: 4, modelAudioAppends: 4, modelAudioDeltas: 1, audioOutChunks: 3, marksSent: 2, marksReceived: 1 });
    expect(log.records.find((r) => r.msg === 'call ended')).toMatchObject({ callSid: 'CA1', reason: 'stop', audioInChunks: 4, unsentModelAudio: 0, errors: 0 });
  });

  it('outbound: the model greets on its first ready session only, not after a reconnect', () => {
    vi.useFakeTimers();
    const { model, start } = call({ modelReconnectDelaysMs: [20] });
    start('outbound');
    model.last().ready();
    expect(model.last().responsesCreated).toBe(1);
    model.last().drop();
    vi.advanceTimersByTime(20);
    expect(model.bridges).toHaveLength(2);
    model.last().ready();
    expect(model.last().responsesCreated).toBe(0);
  });

  it('a model that never comes: bounded reconnects, then 1011 with the unsent audio counted', () => {
    vi.useFakeTimers();
    const { c, socket, model, start, media, finished } = call({ modelReconnectDelaysMs: [20, 40] });
    start();
    media();
    model.last().drop('model refused the connection: HTTP 503');
    vi.advanceTimersByTime(20);
    media();
    model.last().drop('model refused the connection: HTTP 503');
    vi.advanceTimersByTime(40);
    model.last().drop('model refused the connection: HTTP 503');
    expect(c.phase).toBe('closed');
    expect(socket.closedWith).toEqual({ code: 1011, reason: 'model unavailable' });
    const snapshot = finished[0];
    expect(snapshot?.errors.map((e) => e.code)).toEqual(['model_connection_lost', 'model_connection_lost', 'model_unavailable']);
    expect(snapshot?.errors[2]?.message).toBe('model refused the connection: HTTP 503; gave up after 2 reconnect attempts; 2 audio chunks never reached the model');
    expect(snapshot?.queues.toModel).toBe(2);
    expect(snapshot?.counters.modelReconnects).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('barge-in: clear and truncate while the answer plays; its late deltas are counted but never played', () => {
    const { socket, model, ticker, start, c, media } = call();
    start('inbound');
    const session = model.last();
    session.ready();
    session.listener.onAudioDelta(audio(160 * 20), 'item_1');
    ticker.tick(0);
    socket.message({ event: 'mark', streamSid: 'MZ1', mark: { name: '1:200' } });
    session.listener.onSpeechStarted();
    // The caller has to keep talking (bargeInMinSpeechMs of voiced audio) before the answer is cut.
    for (let i = 0; i < 24; i++) media(audio(160, 0x00));
    expect(socket.events()).not.toContain('clear');
    media(audio(160, 0x00));
    expect(socket.events().at(-1)).toBe('clear');
    expect(session.responsesCancelled).toBe(1);
    expect(session.truncations).toEqual([{ itemId: 'item_1', audioEndMs: 200 }]);
    const sentBefore = socket.sent.length;
    session.listener.onAudioDelta(audio(160 * 5), 'item_1');
    ticker.tick(100);
    expect(socket.sent.length).toBe(sentBefore);
    // The next answer plays.
    session.listener.onAudioDelta(audio(160), 'item_2');
    ticker.tick(200);
    expect(socket.events().at(-1)).toBe('media');
    expect(c.snapshot().counters).toMatchObject({ bargeIns: 1, clearsSent: 1, modelAudioDeltas: 3 });
  });

  it('a backchannel: speech over the answer that stops before bargeInMinSpeechMs cuts nothing, and the answer plays on', () => {
    const { socket, model, ticker, start, c, media } = call();
    start('inbound');
    const session = model.last();
    session.ready();
    session.listener.onAudioDelta(audio(160 * 20), 'item_1');
    ticker.tick(0);
    session.listener.onSpeechStarted();
    for (let i = 0; i < 20; i++) media(audio(160, 0x00)); // 400 ms of "mm-hmm"
    session.listener.onSpeechStopped?.();
    for (let i = 0; i < 20; i++) media(audio(160, 0x00)); // talk after the turn ended is not an interruption of this answer
    expect(socket.events()).not.toContain('clear');
    expect(session.truncations).toEqual([]);
    expect(session.responsesCancelled).toBe(0);
    expect(c.snapshot().counters.bargeIns).toBe(0);
  });

  it('dtmf: each key Twilio reports is told to the model, which answers it', () => {
    const { socket, model, start } = call();
    start('inbound');
    const session = model.last();
    session.ready();
    socket.message({ event: 'dtmf', streamSid: 'MZ1', sequenceNumber: '3', dtmf: { track: 'inbound_track', digit: '7' } });
    expect(session.userInputs).toEqual(['The caller pressed 7 on the keypad.']);
  });

  it('dtmf before the model is ready is kept, as early audio is, and told once it is', () => {
    const { socket, model, start } = call();
    start('inbound');
    socket.message({ event: 'dtmf', streamSid: 'MZ1', sequenceNumber: '2', dtmf: { track: 'inbound_track', digit: '#' } });
    const session = model.last();
    expect(session.userInputs).toEqual([]);
    session.ready();
    expect(session.userInputs).toEqual(['The caller pressed # on the keypad.']);
  });

  it('an error after the end reaches the finished record (reported again); a second end does nothing', () => {
    const { c, socket, start, finished } = call();
    start();
    socket.message({ event: 'stop' });
    socket.message({ event: 'stop' });
    expect(finished.map((s) => s.errors.map((e) => e.code))).toEqual([[], ['duplicate_stop']]);
    c.close('shutdown', 1001);
    socket.emit('close', 1000);
    expect(finished).toHaveLength(2);
    expect(c.snapshot().endReason).toBe('stop');
  });

  it('the socket closing ends the call with its code as the reason', () => {
    const { c, socket, model, start } = call();
    start();
    socket.emit('close', 1006);
    expect(c.phase).toBe('closed');
    expect(c.snapshot()).toMatchObject({ state: 'closed', endReason: 'socket closed (1006)' });
    expect(model.last().closedByCall).toBe(true);
  });

  it('whatever a part throws is an internal error on this call; the call goes on', () => {
    const { c, model, start, media } = call();
    start();
    model.last().ready();
    model.last().appendAudio = () => {
      throw new TypeError('boom');
    };
    media();
    expect(c.snapshot().errors.map((e) => e.message)).toEqual(['TypeError: boom']);
    expect(c.phase).toBe('live');
  });

  it('a caller the model stops taking audio from: past the bound, 1011 with every waiting chunk counted', () => {
    const { c, socket, start, media, finished } = call({ maxPendingModelChunks: 5 });
    start();
    for (let i = 0; i < 6; i++) media();
    expect(socket.closedWith).toEqual({ code: 1011, reason: 'model backlog overflow' });
    expect(finished[0]?.queues.toModel).toBe(6);
    expect(c.snapshot().errors.map((e) => e.code)).toEqual(['model_backlog_overflow']);
  });

  it('media before start is refused; a stop before start ends the call as stopped', () => {
    const { c, socket, model, media, finished } = call();
    media();
    socket.message({ event: 'stop' });
    expect(c.phase).toBe('stopped');
    expect(model.bridges).toEqual([]);
    expect(finished[0]?.errors.map((e) => e.code)).toEqual(['media_before_start', 'stop_before_start']);
    expect(finished[0]?.model.state).toBe('not started');
  });
});
