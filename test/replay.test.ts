// The fake Twilio (src/sim) and `callsim replay` against real sockets on loopback: pacing,
// the wire protocol it speaks, the playback model (marks, clear), the planted faulty servers,
// the built-in media server, and the CLI as a child process.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import { WavInputError, loadWavAsMulawFrames } from '../src/audio/wav.js';
import { startMediaServer } from '../src/server/media-server.js';
import { runReplay, statsUrlFor, type ReplayReport } from '../src/caller/replay.js';
import { placeCall } from '../src/caller/call.js';
import { FRAME_BYTES, MULAW_SILENCE } from '../src/audio/format.js';
import * as earlyClose from './servers/early-close.mjs';
import * as forgetfulOutbound from './servers/forgetful-outbound.mjs';
import * as wrongStreamSid from './servers/wrong-streamsid.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HELLO = join(ROOT, 'fixtures/hello-8k-mulaw.wav'); // 2.0 s, 100 frames
const INVALID = join(ROOT, 'fixtures/invalid');
const SILENCE = Buffer.alloc(FRAME_BYTES, MULAW_SILENCE);
const silence = (frames: number): Buffer[] => Array.from({ length: frames }, () => SILENCE);

// ---- servers under test ---------------------------------------------------------------------

interface Closable {
  close(): Promise<void>;
}
const running: Closable[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
});

interface ReceivedMessage {
  at: number;
  message: Record<string, unknown> & { event: string };
}

interface ScriptedServer {
  url: string;
  port: number;
  /** Every message each connection received, with performance.now() arrival times. */
  calls: ReceivedMessage[][];
}

/** What a scripted server does once `start` arrives (it always closes the socket on `stop`). */
type OnStart = (ws: WebSocket, streamSid: string) => void;

async function startScriptedServer(onStart: OnStart = () => {}): Promise<ScriptedServer> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/media' });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const calls: ReceivedMessage[][] = [];
  wss.on('connection', (ws) => {
    const received: ReceivedMessage[] = [];
    calls.push(received);
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as ReceivedMessage['message'];
      received.push({ at: performance.now(), message });
      if (message.event === 'start') onStart(ws, (message.start as { streamSid: string }).streamSid);
      if (message.event === 'stop') ws.close(1000, 'stream stopped');
    });
  });
  running.push({
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  });
  const port = (wss.address() as { port: number }).port;
  return { url: `ws://127.0.0.1:${port}/media`, port, calls };
}

async function startPlanted(module: { start(options?: { port?: number; quiet?: boolean }): Promise<{ port: number; close(): Promise<void> }> }): Promise<string> {
  const server = await module.start({ port: 0, quiet: true });
  running.push(server);
  return `ws://127.0.0.1:${server.port}/media`;
}

/** A port nothing listens on. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function mediaPayloadsFor(streamSid: string, frames: number, name: string): string[] {
  const media = JSON.stringify({ event: 'media', streamSid, media: { payload: Buffer.alloc(FRAME_BYTES, 0x10).toString('base64') } });
  return [...Array.from({ length: frames }, () => media), JSON.stringify({ event: 'mark', streamSid, mark: { name } })];
}

function check(report: ReplayReport, name: string): string {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check named ${name}`);
  return found.status;
}

// ---- pacing ---------------------------------------------------------------------------------

describe('pacing', () => {
  it('replays a 2 s fixture in real time: 2 s ± 10 % between its first and last frame at the server', async () => {
    const server = await startScriptedServer();
    const audio = loadWavAsMulawFrames(HELLO);
    const record = await placeCall({ url: server.url, frames: audio.frames, tailMs: 0 });
    const media = server.calls[0]!.filter((r) => r.message.event === 'media');
    expect(media).toHaveLength(100);
    // 100 frames span 99 frame intervals; the 100th frame ends the 2 s.
    const spanMs = media[99]!.at - media[0]!.at;
    expect(spanMs).toBeGreaterThan(1980 * 0.9);
    expect(spanMs).toBeLessThan(1980 * 1.1);
    expect(record.audioSendMs).toBeGreaterThan(1980 * 0.9);
    expect(record.ending).toBe('completed');
    expect(record.framesSent).toBe(100);
  });

  it('burst mode sends the same frames without pacing', async () => {
    const server = await startScriptedServer();
    const audio = loadWavAsMulawFrames(HELLO);
    const began = performance.now();
    const record = await placeCall({ url: server.url, frames: audio.frames, timing: { mode: 'burst' }, tailMs: 0 });
    expect(performance.now() - began).toBeLessThan(500);
    expect(record.framesSent).toBe(100);
    expect(server.calls[0]!.filter((r) => r.message.event === 'media')).toHaveLength(100);
  });

  it('speed 4 replays four times faster', async () => {
    const server = await startScriptedServer();
    const record = await placeCall({ url: server.url, frames: silence(50), timing: { mode: 'realtime', speed: 4 }, tailMs: 0 });
    const media = server.calls[0]!.filter((r) => r.message.event === 'media');
    const spanMs = media[49]!.at - media[0]!.at; // 49 × 20 ms / 4 = 245 ms
    expect(spanMs).toBeGreaterThan(245 * 0.85);
    expect(spanMs).toBeLessThan(245 * 1.25);
    expect(record.audioFramesSent).toBe(50);
  });
});

// ---- the wire protocol the fake Twilio speaks ----------------------------------------------

describe('what the fake Twilio sends', () => {
  it('sends connected, start, numbered media, DTMF after the audio, and stop, like Twilio', async () => {
    const server = await startScriptedServer();
    const audio = loadWavAsMulawFrames(HELLO);
    const record = await placeCall({
      url: server.url,
      frames: audio.frames,
      direction: 'outbound',
      params: { lang: 'en' },
      timing: { mode: 'burst' },
      tailMs: 0,
      dtmf: { digits: '1#' },
    });
    const messages = server.calls[0]!.map((r) => r.message);
    expect(messages[0]).toEqual({ event: 'connected', protocol: 'Call', version: '1.0.0' });
    const start = messages[1] as unknown as {
      event: string;
      sequenceNumber: string;
      streamSid: string;
      start: Record<string, unknown>;
    };
    expect(start.event).toBe('start');
    expect(start.sequenceNumber).toBe('1');
    expect(start.start).toMatchObject({
      tracks: ['inbound'],
      // Exactly the parameters given: Twilio adds nothing (no invented direction).
      customParameters: { lang: 'en' },
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      callSid: record.callSid,
      streamSid: record.streamSid,
    });
    expect(start.start.accountSid).toMatch(/^AC[0-9a-f]{32}$/);
    expect(record.callSid).toMatch(/^CA[0-9a-f]{32}$/);
    expect(record.streamSid).toMatch(/^MZ[0-9a-f]{32}$/);

    // Every message after connected carries the next sequence number.
    const sequenceNumbers = messages.slice(1).map((m) => Number(m.sequenceNumber));
    expect(sequenceNumbers).toEqual(sequenceNumbers.map((_, i) => i + 1));

    const media = messages.filter((m) => m.event === 'media') as unknown as Array<{
      streamSid: string;
      media: { track: string; chunk: string; timestamp: string; payload: string };
    }>;
    expect(media.length).toBe(record.framesSent);
    media.forEach((m, i) => {
      expect(m.streamSid).toBe(record.streamSid);
      expect(m.media.track).toBe('inbound');
      expect(m.media.chunk).toBe(String(i + 1));
      expect(m.media.timestamp).toBe(String(i * 20));
    });
    for (let i = 0; i < 100; i++) expect(Buffer.from(media[i]!.media.payload, 'base64').equals(audio.frames[i]!)).toBe(true);

    // DTMF comes after the audio, one event per digit, on the inbound track.
    const dtmfIndexes = messages.flatMap((m, i) => (m.event === 'dtmf' ? [i] : []));
    expect(dtmfIndexes).toHaveLength(2);
    const lastAudioIndex = messages.indexOf(media[99] as unknown as ReceivedMessage['message']);
    expect(dtmfIndexes[0]).toBeGreaterThan(lastAudioIndex);
    expect(messages[dtmfIndexes[0]!]).toMatchObject({ dtmf: { track: 'inbound_track', digit: '1' }, streamSid: record.streamSid });
    expect(messages[dtmfIndexes[1]!]).toMatchObject({ dtmf: { track: 'inbound_track', digit: '#' } });
    expect(record.dtmfDigitsSent).toBe('1#');

    expect(messages.at(-1)).toMatchObject({
      event: 'stop',
      streamSid: record.streamSid,
      stop: { accountSid: start.start.accountSid, callSid: record.callSid },
    });
    expect(record).toMatchObject({ stopSent: true, closedBy: 'server', closeCode: 1000, serverClosedBeforeStop: false });
  });

  it('earlyMedia puts the first frames right behind start; startDelayMs holds them back', async () => {
    const early = await startScriptedServer();
    await placeCall({ url: early.url, frames: silence(10), earlyMedia: true, tailMs: 0, timing: { mode: 'realtime', speed: 1 } });
    const earlyCall = early.calls[0]!;
    const startAt = earlyCall.find((r) => r.message.event === 'start')!.at;
    const firstMedia = earlyCall.filter((r) => r.message.event === 'media');
    // Five frames arrive with start, in the same read; the rest follow at their paced times.
    expect(firstMedia[4]!.at - startAt).toBeLessThan(5);
    expect(firstMedia[9]!.at - startAt).toBeGreaterThan(80);

    const delayed = await startScriptedServer();
    await placeCall({ url: delayed.url, frames: silence(5), startDelayMs: 300, tailMs: 0, timing: { mode: 'burst' } });
    const delayedCall = delayed.calls[0]!;
    const gap = delayedCall.find((r) => r.message.event === 'media')!.at - delayedCall.find((r) => r.message.event === 'start')!.at;
    expect(gap).toBeGreaterThanOrEqual(290);
  });

  it('keeps the line open while the server is still talking, and stops once it has been quiet', async () => {
    const talkFrames = 75; // 1.5 s of agent audio, starting 100 ms into the call
    const server = await startScriptedServer((ws, streamSid) => {
      setTimeout(() => {
        let sent = 0;
        const timer = setInterval(() => {
          if (ws.readyState !== ws.OPEN) return clearInterval(timer);
          ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload: SILENCE.toString('base64') } }));
          if (++sent === talkFrames) clearInterval(timer);
        }, 20);
      }, 100);
    });
    // Audio and tail are over after 300 ms, but the server talks until ~1.6 s.
    const record = await placeCall({ url: server.url, frames: silence(10), tailMs: 100 });
    expect(record.framesReceived).toBe(talkFrames);
    expect(record.ending).toBe('completed');
    // 100 ms + 1.5 s of talk + 500 ms of quiet before hanging up.
    expect(record.durationMs).toBeGreaterThan(2000);
    expect(record.silenceFramesSent).toBeGreaterThan(80);
  });
});

// ---- playback: marks and clear -------------------------------------------------------------

describe('playback model', () => {
  it('echoes a mark once the audio queued before it has played (500 ms of audio → ~500 ms)', async () => {
    let markSentAt = 0;
    const server = await startScriptedServer((ws, streamSid) => {
      for (const message of mediaPayloadsFor(streamSid, 25, 'after-greeting')) ws.send(message);
      markSentAt = performance.now();
    });
    const record = await placeCall({ url: server.url, frames: silence(5), tailMs: 0 });
    const echo = server.calls[0]!.find((r) => r.message.event === 'mark');
    expect(echo?.message).toMatchObject({ event: 'mark', streamSid: record.streamSid, mark: { name: 'after-greeting' } });
    expect(typeof echo!.message.sequenceNumber).toBe('string');
    const delay = echo!.at - markSentAt;
    expect(delay).toBeGreaterThan(450);
    expect(delay).toBeLessThan(700);
    expect(record).toMatchObject({ framesReceived: 25, marksReceived: 1, marksEchoed: 1, marksPendingAtEnd: 0 });
  });

  it('in burst mode playback is instantaneous: marks come straight back', async () => {
    let markSentAt = 0;
    const server = await startScriptedServer((ws, streamSid) => {
      for (const message of mediaPayloadsFor(streamSid, 50, 'm')) ws.send(message);
      markSentAt = performance.now();
    });
    // A short tail so the call is still up when the server's answer lands.
    await placeCall({ url: server.url, frames: silence(5), tailMs: 100, timing: { mode: 'burst' } });
    const echo = server.calls[0]!.find((r) => r.message.event === 'mark');
    expect(echo!.at - markSentAt).toBeLessThan(100);
  });

  it('clear drops unplayed audio and echoes pending marks at once', async () => {
    let clearSentAt = 0;
    const server = await startScriptedServer((ws, streamSid) => {
      for (const message of mediaPayloadsFor(streamSid, 50, 'end-of-answer')) ws.send(message); // 1 s of audio
      setTimeout(() => {
        ws.send(JSON.stringify({ event: 'clear', streamSid }));
        clearSentAt = performance.now();
      }, 200);
    });
    // Kept only when asked for (as --save-audio asks): a second of it.
    const record = await placeCall({ url: server.url, frames: silence(5), tailMs: 0, keepAudioMs: 1000 });
    const echo = server.calls[0]!.find((r) => r.message.event === 'mark');
    expect(echo?.message).toMatchObject({ mark: { name: 'end-of-answer' } });
    expect(echo!.at - clearSentAt).toBeLessThan(50);
    expect(record.clearsReceived).toBe(1);
    expect(record.audioClearedMs).toBeGreaterThan(700);
    expect(record.audioClearedMs).toBeLessThan(850);
    // Every frame is recorded, including the ones the clear dropped.
    expect(record.framesReceived).toBe(50);
    expect(record.receivedAudio).toHaveLength(50);
  });
});

// ---- failures the caller would notice ------------------------------------------------------

describe('planted faulty servers', () => {
  it('forgetful-outbound: an outbound call fails on the 1011 close and the NaN counter', async () => {
    const url = await startPlanted(forgetfulOutbound);
    // Placed through the server's voice webhook, which tells its stream the direction.
    const report = await runReplay({ file: HELLO, url, webhook: { path: '/twiml' }, direction: 'outbound', timing: { mode: 'burst' } });
    expect(report.verdict).toBe('fail');
    expect(report.call.closeCode).toBe(1011);
    expect(report.call.serverClosedBeforeStop).toBe(true);
    expect(check(report, 'server-kept-stream-open')).toBe('fail');
    expect(check(report, 'normal-close')).toBe('fail');
    expect(check(report, 'counters-finite')).toBe('fail');
    expect(report.stats.available).toBe(true);
    expect(report.stats.counters?.audioOutChunks).toBeNull();
    expect(report.failures[0]).toMatch(/An application error has occurred.*before stop.*1011/);
    expect(report.failures.join('\n')).toMatch(/audioOutChunks is null/);
  });

  it('forgetful-outbound: an inbound call against the same server passes', async () => {
    const url = await startPlanted(forgetfulOutbound);
    // The fixture ends in 800 ms of silence, enough for this server to answer; a short tail catches it.
    const report = await runReplay({ file: HELLO, url, webhook: { path: '/twiml' }, direction: 'inbound', timing: { mode: 'burst' }, tailMs: 200, expectAudio: true });
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('pass');
    expect(report.stats.counters).toMatchObject({ audioInChunks: report.call.framesSent, audioOutChunks: report.call.framesReceived });
    expect(report.call.marksEchoed).toBe(report.call.marksReceived);
  });

  it('early-close: fails because the server closed before stop', async () => {
    const url = await startPlanted(earlyClose);
    const report = await runReplay({ file: HELLO, url, timing: { mode: 'burst' } });
    expect(report.verdict).toBe('fail');
    expect(check(report, 'server-kept-stream-open')).toBe('fail');
    expect(report.failures[0]).toMatch(/closed the media stream before stop/);
    // No stats endpoint: said so, not failed for.
    expect(report.stats.available).toBe(false);
    expect(report.stats.note).toMatch(/no stats endpoint/);
    expect(check(report, 'audio-in-matches')).toBe('skip');
  });

  it('wrong-streamsid: fails naming the foreign streamSid', async () => {
    const url = await startPlanted(wrongStreamSid);
    const report = await runReplay({ file: HELLO, url, timing: { mode: 'burst' }, tailMs: 0 });
    expect(report.verdict).toBe('fail');
    expect(check(report, 'wire-protocol')).toBe('fail');
    expect(report.call.framesReceived).toBe(0);
    expect(report.call.wireErrors[0]).toMatchObject({ kind: 'wrong_stream_sid' });
    // The server used the callSid where the streamSid belongs.
    expect(report.failures.join('\n')).toContain(`streamSid "${report.call.callSid}"`);
    expect(report.failures.join('\n')).toContain(report.call.streamSid);
  });

  it('an abrupt drop (no close frame) fails with code 1006', async () => {
    const server = await startScriptedServer((ws) => {
      setTimeout(() => ws.terminate(), 100);
    });
    const report = await runReplay({ file: HELLO, url: server.url, timing: { mode: 'burst' }, tailMs: 500 });
    expect(report.call.closeCode).toBe(1006);
    expect(report.failures[0]).toBe(
      'the caller hears: "An application error has occurred" — the server closed the media stream before stop (code 1006; Twilio error 31921)',
    );
  });

  it('reports malformed JSON, unknown events and bad base64 from the server', async () => {
    const server = await startScriptedServer((ws, streamSid) => {
      ws.send('{not json');
      ws.send(JSON.stringify({ event: 'playAudio', streamSid }));
      ws.send(JSON.stringify({ event: 'media', streamSid, media: { payload: '***' } }));
    });
    const report = await runReplay({ file: HELLO, url: server.url, timing: { mode: 'burst' }, tailMs: 0 });
    expect(report.verdict).toBe('fail');
    expect(report.call.wireErrors.map((e) => e.kind).sort()).toEqual(['invalid_base64', 'malformed_json', 'unknown_event']);
  });
});

describe('never hangs', () => {
  it('a refused connection is a failed call, not an exception', async () => {
    const port = await freePort();
    const report = await runReplay({ file: HELLO, url: `ws://127.0.0.1:${port}/media` });
    expect(report.verdict).toBe('fail');
    expect(report.call.connected).toBe(false);
    expect(report.call.connectError).toMatch(/ECONNREFUSED/);
    expect(report.failures[0]).toMatch(/could not open the media stream.*ECONNREFUSED/);
  });

  it('an HTTP error on the upgrade is a failed call', async () => {
    const server = await startScriptedServer();
    const record = await placeCall({ url: `ws://127.0.0.1:${server.port}/wrong-path`, frames: silence(5) });
    expect(record.connected).toBe(false);
    expect(record.connectError).toMatch(/Unexpected server response: 400/);
  });

  it('timeoutMs bounds the call: stop goes out and the call ends on time', async () => {
    const server = await startScriptedServer();
    const began = performance.now();
    const report = await runReplay({ file: HELLO, url: server.url, timeoutMs: 400 });
    expect(performance.now() - began).toBeLessThan(2000);
    expect(report.call.ending).toBe('timeout');
    expect(report.call.stopSent).toBe(true);
    expect(check(report, 'call-completed')).toBe('fail');
    expect(report.failures.join('\n')).toMatch(/400 ms timeout/);
  });
});

describe('stats URL', () => {
  const sid = 'CA0123';
  it('derives http(s)://host:port/calls/<sid> from the WebSocket URL', () => {
    expect(statsUrlFor('ws://127.0.0.1:8080/media?x=1', sid)).toBe('http://127.0.0.1:8080/calls/CA0123');
    expect(statsUrlFor('wss://agent.example.com/twilio/media', sid)).toBe('https://agent.example.com/calls/CA0123');
  });
  it('takes an explicit base, a /calls path, or a {callSid} template', () => {
    expect(statsUrlFor('ws://a/media', sid, 'http://admin:9000')).toBe('http://admin:9000/calls/CA0123');
    expect(statsUrlFor('ws://a/media', sid, 'http://admin:9000/api/calls/')).toBe('http://admin:9000/api/calls/CA0123');
    expect(statsUrlFor('ws://a/media', sid, 'http://admin/v1/{callSid}/stats')).toBe('http://admin/v1/CA0123/stats');
  });
});

describe('input', () => {
  it.each(['empty.wav', 'not-a-wav.wav', 'truncated.wav', 'missing.wav'])('a bad WAV (%s) is a WavInputError', async (name) => {
    const file = join(INVALID, name);
    const error = await runReplay({ file, url: 'ws://127.0.0.1:9/media' }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(WavInputError);
    expect((error as WavInputError).file).toBe(file);
    expect((error as WavInputError).problem).not.toBe('');
  });

  it('--save-audio writes what the caller heard as a playable WAV', async () => {
    const url = await startPlanted(forgetfulOutbound);
    const dir = mkdtempSync(join(tmpdir(), 'callsim-replay-'));
    try {
      const file = join(dir, 'agent.wav');
      const report = await runReplay({ file: HELLO, url, timing: { mode: 'burst' }, tailMs: 200, saveAudioPath: file });
      expect(report.savedAudio).toEqual({ file, frames: report.call.framesReceived, error: null });
      expect(report.call.framesReceived).toBeGreaterThan(0);
      expect(loadWavAsMulawFrames(file).frames).toHaveLength(report.call.framesReceived);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('planted servers as standalone processes (how the gate runs them)', () => {
  function launch(name: string): { child: ReturnType<typeof spawn>; url: Promise<string>; stderr: () => string; exited: Promise<number | null> } {
    const child = spawn(process.execPath, [join(ROOT, 'test/servers', `${name}.mjs`), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const url = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('\n')) resolve(stdout);
      });
      child.once('exit', () => reject(new Error(`${name} exited before listening: ${stderr}`)));
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, url, stderr: () => stderr, exited };
  }

  it('each prints one "listening on" line and exits 0 on SIGTERM', async () => {
    const servers = ['forgetful-outbound', 'early-close', 'wrong-streamsid'].map(launch);
    const lines = await Promise.all(servers.map((s) => s.url));
    for (const line of lines) expect(line).toMatch(/^listening on ws:\/\/127\.0\.0\.1:\d+\/media\n$/);
    for (const s of servers) s.child.kill('SIGTERM');
    expect(await Promise.all(servers.map((s) => s.exited))).toEqual([0, 0, 0]);
  });

  it('forgetful-outbound logs the TypeError with its stack and closes with 1011', async () => {
    const server = launch('forgetful-outbound');
    const url = (await server.url).trim().replace('listening on ', '');
    // Direct mode: the direction reaches the server only as an explicit parameter.
    const record = await placeCall({ url, frames: silence(5), direction: 'outbound', params: { direction: 'outbound' }, timing: { mode: 'burst' }, tailMs: 0 });
    expect(record.closeCode).toBe(1011);
    server.child.kill('SIGTERM');
    await server.exited;
    expect(server.stderr()).toContain("TypeError: Cannot read properties of undefined (reading 'push')");
    expect(server.stderr()).toMatch(/at sendGreeting/);
  });
});

// ---- the built-in media server -------------------------------------------------------------

describe('against the built-in media server', () => {
  it('an inbound call (default target, started in-process) passes with matching counters', async () => {
    const report = await runReplay({ file: HELLO, direction: 'inbound', expectAudio: true });
    expect(report.failures).toEqual([]);
    expect(report.target.builtInServer).toBe(true);
    expect(report.stats.available).toBe(true);
    expect(report.stats.counters).toMatchObject({
      audioInChunks: report.call.framesSent,
      audioOutChunks: report.call.framesReceived,
    });
    expect(report.call.framesReceived).toBeGreaterThan(0);
    expect(report.call.marksEchoed).toBe(report.call.marksReceived);
  });

  it('an outbound call (the agent greets first) passes with matching counters', async () => {
    const server = await startMediaServer({ port: 0, quiet: true });
    running.push(server);
    const report = await runReplay({ file: HELLO, url: server.wsUrl, webhook: { path: '/twiml' }, direction: 'outbound', expectAudio: true, timing: { mode: 'burst' } });
    expect(report.failures).toEqual([]);
    expect(report.stats.counters).toMatchObject({
      audioInChunks: report.call.framesSent,
      audioOutChunks: report.call.framesReceived,
    });
    expect(report.serverSnapshot?.direction).toBe('outbound');
  });
});

// ---- the CLI, as a user runs it ------------------------------------------------------------

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const CLI = join(ROOT, 'bin/callsim.js');

/** The CLI runs the compiled code: refuse to test a dist/ older than the sources under test. */
function assertBuilt(): void {
  for (const folder of ['src/caller', 'src/cli', 'src/report', 'src/text']) {
    for (const name of readdirSync(join(ROOT, folder)).filter((f) => f.endsWith('.ts'))) {
      const built = join(ROOT, 'dist', folder, name.replace(/\.ts$/, '.js'));
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(ROOT, folder, name)).mtimeMs) {
        throw new Error(`dist/${folder}/${name.replace(/\.ts$/, '.js')} is missing or stale: run \`npm run build\` before these tests`);
      }
    }
  }
}

function cli(...args: string[]): Promise<CliResult> {
  assertBuilt();
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'replay', ...args], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0' } }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('callsim replay (child process)', () => {
  it('exits 1 with the failure summary when a check fails', async () => {
    const url = await startPlanted(earlyClose);
    const result = await cli('--url', url, '--burst', 'fixtures/hello-8k-mulaw.wav');
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL/);
    expect(result.stdout).toContain('the server closed the media stream before stop');
  });

  it('exits 0 and prints only the report with --json for a healthy call', async () => {
    const url = await startPlanted(forgetfulOutbound);
    const result = await cli('--url', url, '--burst', '--tail', '200', '--json', '--expect-audio', 'fixtures/hello-8k-mulaw.wav');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as ReplayReport;
    expect(report.verdict).toBe('pass');
    expect(report.call.framesReceived).toBeGreaterThan(0);
  });

  it('exits 2 with one line on stderr for a bad WAV', async () => {
    const result = await cli('--url', 'ws://127.0.0.1:9/media', 'fixtures/invalid/not-a-wav.wav');
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^callsim replay: fixtures\/invalid\/not-a-wav\.wav: .+\n$/);
  });

  it('exits 2 for bad option values and unknown choices', async () => {
    const [speed, direction, missing] = await Promise.all([
      cli('--speed', '0', 'fixtures/hello-8k-mulaw.wav'),
      cli('--direction', 'sideways', 'fixtures/hello-8k-mulaw.wav'),
      cli('--burst'),
    ]);
    expect(speed.code).toBe(2);
    expect(speed.stderr).toContain('--speed');
    expect(direction.code).toBe(2);
    expect(direction.stderr).toMatch(/sideways/);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/missing required argument/);
  });

  it('through a webhook (--webhook-path, --direction outbound): the JSON report has the call flow; webhook options are one choice', async () => {
    const url = await startPlanted(forgetfulOutbound);
    const outbound = await cli('--url', url, '--webhook-path', '/twiml', '--direction', 'outbound', '--burst', '--json', 'fixtures/hello-8k-mulaw.wav');
    expect(outbound.code).toBe(1);
    const report = JSON.parse(outbound.stdout) as ReplayReport;
    expect(report.callFlow).toMatchObject({ mode: 'webhook', webhook: { method: 'POST', params: { Direction: 'outbound-api' } }, stream: { verb: 'Connect', parameters: { direction: 'outbound' } } });
    const [both, paramWithWebhook, paramOnBuiltIn, badWebhook, badDelay] = await Promise.all([
      cli('--url', url, '--no-webhook', '--webhook-path', '/twiml', 'fixtures/hello-8k-mulaw.wav'),
      cli('--url', url, '--webhook-path', '/twiml', '--param', 'a=b', 'fixtures/hello-8k-mulaw.wav'),
      cli('--param', 'a=b', 'fixtures/hello-8k-mulaw.wav'),
      cli('--webhook', 'ftp://127.0.0.1/twiml', 'fixtures/hello-8k-mulaw.wav'),
      cli('--network-delay-ms', 'soon', 'fixtures/hello-8k-mulaw.wav'),
    ]);
    for (const result of [both, paramWithWebhook, paramOnBuiltIn, badWebhook, badDelay]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
    }
    expect(both.stderr).toContain('use --webhook-path or --no-webhook, not both');
    expect(paramWithWebhook.stderr).toContain('--param sets customParameters in direct mode only');
    expect(paramOnBuiltIn.stderr).toContain('--param sets customParameters in direct mode only');
    expect(badWebhook.stderr).toContain('a voice webhook is an http:// or https:// URL');
    expect(badDelay.stderr).toContain('expected milliseconds, as 30 or 20-40');
  });

  it('exits 2 before the call when --save-audio cannot be written (no such folder, or a file in its place)', async () => {
    const [noFolder, fileAsFolder] = await Promise.all([
      cli('--url', 'ws://127.0.0.1:9/media', '--save-audio', 'no-such-folder/agent.wav', 'fixtures/hello-8k-mulaw.wav'),
      cli('--url', 'ws://127.0.0.1:9/media', '--save-audio', 'fixtures/hello-8k-mulaw.wav/agent.wav', 'fixtures/hello-8k-mulaw.wav'),
    ]);
    for (const result of [noFolder, fileAsFolder]) {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
    }
    expect(noFolder.stderr).toContain('does not exist');
    expect(fileAsFolder.stderr).toContain('is not a directory');
  });

  it('--reporter: the same reporters as the gate, a replay being a run of one call', async () => {
    const url = await startPlanted(earlyClose);
    const dir = mkdtempSync(join(tmpdir(), 'callsim-replay-reporter-'));
    try {
      const junit = join(dir, 'replay.xml');
      const json = join(dir, 'replay.json');
      const failed = await cli('--url', url, '--burst', '--reporter', 'table', '--reporter', `junit=${junit}`, '--reporter', `json=${json}`, 'fixtures/hello-8k-mulaw.wav');
      expect(failed.code).toBe(1);
      expect(failed.stdout).toContain('the server closed the media stream before stop');
      expect(readFileSync(junit, 'utf8')).toMatch(/<testsuites name="callsim replay" tests="1" failures="1"[\s\S]*<failure message="the caller hears/);
      const report = JSON.parse(readFileSync(json, 'utf8')) as ReplayReport;
      expect(report.verdict).toBe('fail');
      expect(report.failures[0]).toContain('the server closed the media stream before stop');
      // Not on a terminal, the progress line is one line per finished call.
      const logged = await cli('--url', url, '--burst', '--quiet', '--reporter', 'progress', '--reporter', 'table', 'fixtures/hello-8k-mulaw.wav');
      expect(logged.stderr).toBe('callsim replay: [1/1] FAIL hello-8k-mulaw.wav inbound burst\n');
      expect(logged.stdout).toMatch(/^FAIL /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--reporter: an unknown name or two reports on stdout exit 2 before the call', async () => {
    const [unknown, twoOnStdout] = await Promise.all([
      cli('--url', 'ws://127.0.0.1:9/media', '--reporter', 'tap', 'fixtures/hello-8k-mulaw.wav'),
      cli('--url', 'ws://127.0.0.1:9/media', '--reporter', 'table', '--json', 'fixtures/hello-8k-mulaw.wav'),
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown reporter "tap" (known: table, json, junit, html, github, progress)');
    expect(twoOnStdout.code).toBe(2);
    expect(twoOnStdout.stderr).toContain('only one report can go to stdout');
    for (const result of [unknown, twoOnStdout]) expect(result.stdout).toBe('');
  });
});
