// The embedded realtime simulator: a local WebSocket server that speaks the OpenAI Realtime
// (GA) event protocol with g711 mu-law audio, so `callsim serve` runs with no key and no network.
// It does server VAD on the caller's audio and answers each turn with synthesised speech.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import { createInProcessPipe } from '../in-process-pipe.js';
import { floatToMulaw, mulawRms } from '../../audio/g711.js';
import { synthesizeSpeechLike } from '../../audio/synth.js';
import { SharedTicker, type Tickable } from '../../ticker.js';

export interface SimulatorFaults {
  /** Answer every upgrade with HTTP 503. */
  refuseConnections?: boolean;
  /** Drop the socket (no close frame) after this many appends in a session. */
  dropAfterAppends?: number;
  /** Delay `session.updated` by this much. */
  sessionReadyDelayMs?: number;
  /** Send a malformed (non-JSON) frame after this many appends. */
  malformedAfterAppends?: number;
  /** On a cancelled response, still send this many deltas of it first (already in flight, as a real API may). */
  lateDeltasAfterCancel?: number;
  /** Answer only the first this many upgrades with HTTP 503, then accept (a model that comes back). */
  refuseFirstConnections?: number;
  /** Apply dropAfterAppends to only the first this many sessions (default: every session). */
  dropSessions?: number;
  /** Stop reading the socket after this many appends (a stalled model; TCP backpressure builds). */
  stallAfterAppends?: number;
  /** Resume reading this long after a stall (default: never). */
  stallMs?: number;
  /** Wait this long before streaming each answer (a slow model). */
  answerDelayMs?: number;
}

export interface RealtimeSimulatorOptions {
  host?: string;
  port?: number;
  /** Length of each spoken answer. */
  answerMs?: number;
  /** Audio per `response.output_audio.delta`. */
  deltaMs?: number;
  /** How much faster than real time answers are streamed (the real API bursts ahead too). */
  streamSpeed?: number;
  /** RMS (0..1) above which a frame counts as speech. */
  vadThreshold?: number;
  faults?: SimulatorFaults;
  /** Finished sessions kept for sessions() (default 2000); the oldest go first. */
  keepFinishedSessions?: number;
  /** Sees every appended audio chunk (decoded), e.g. for a benchmark's latency probe. */
  onAppend?: (callSid: string | null, audio: Buffer) => void;
}

export interface SimulatorSessionStats {
  id: string;
  callSid: string | null;
  open: boolean;
  sessionUpdates: number;
  appendsReceived: number;
  audioBytesReceived: number;
  speechStarted: number;
  speechStopped: number;
  responsesStarted: number;
  responsesCompleted: number;
  responsesCancelled: number;
  audioDeltasSent: number;
  truncations: Array<{ itemId: string; audioEndMs: number }>;
  clientErrors: number;
}

export interface RunningSimulator {
  port: number;
  /** The base URL to give the `openai` SDK client (its realtime client adds `/realtime`). */
  baseURL: string;
  sessions(): SimulatorSessionStats[];
  sessionsFor(callSid: string): SimulatorSessionStats[];
  /** A new in-process connection to this simulator, as if accepted on its port. */
  connect(): Duplex;
  close(): Promise<void>;
}

const SPEECH_FRAMES_TO_START = 2;
const SILENCE_MS_TO_STOP = 500;
const DEFAULT_KEEP_FINISHED_SESSIONS = 2000;

export async function startRealtimeSimulator(options: RealtimeSimulatorOptions = {}): Promise<RunningSimulator> {
  const host = options.host ?? '127.0.0.1';
  const config: SessionConfig = {
    answer: answerAudio(options.answerMs ?? 1200),
    deltaBytes: Math.max(1, Math.round((options.deltaMs ?? 100) * 8)),
    streamSpeed: options.streamSpeed ?? 2,
    vadThreshold: options.vadThreshold ?? 0.02,
    faults: options.faults ?? {},
    ticker: new SharedTicker(),
    onAppend: options.onAppend ?? null,
  };
  const live = new Set<SimulatorSession>();
  const finished: SimulatorSessionStats[] = [];
  const keepFinished = options.keepFinishedSessions ?? DEFAULT_KEEP_FINISHED_SESSIONS;
  let upgrades = 0;
  let sessionsOpened = 0;

  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('realtime simulator: WebSocket only\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const path = (req.url ?? '').split('?')[0];
    upgrades += 1;
    const refuse = config.faults.refuseConnections === true || upgrades <= (config.faults.refuseFirstConnections ?? 0);
    if (refuse || !path?.endsWith('/realtime')) {
      socket.end(`HTTP/1.1 ${refuse ? '503 Service Unavailable' : '404 Not Found'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const header = req.headers['x-callsim-call-sid'];
      sessionsOpened += 1;
      const dropApplies = config.faults.dropSessions === undefined || sessionsOpened <= config.faults.dropSessions;
      const session = new SimulatorSession(ws, socket, typeof header === 'string' ? header : null, config, dropApplies);
      live.add(session);
      ws.on('close', () => {
        session.end();
        live.delete(session);
        finished.push(session.stats);
        if (finished.length > keepFinished) finished.splice(0, finished.length - keepFinished);
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const sessions = (): SimulatorSessionStats[] => [...finished, ...[...live].map((s) => s.stats)];
  return {
    port,
    baseURL: `http://${host}:${port}/v1`,
    sessions,
    sessionsFor: (callSid) => sessions().filter((s) => s.callSid === callSid),
    connect: () => {
      const [client, accepted] = createInProcessPipe();
      // An http server takes any Duplex as a connection this way (Node's documented injection).
      server.emit('connection', accepted);
      return client;
    },
    close: async () => {
      for (const session of live) session.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface SessionConfig {
  answer: Buffer;
  deltaBytes: number;
  streamSpeed: number;
  vadThreshold: number;
  faults: SimulatorFaults;
  ticker: SharedTicker;
  onAppend: ((callSid: string | null, audio: Buffer) => void) | null;
}

interface ActiveResponse {
  id: string;
  itemId: string;
  offset: number;
  startedAt: number;
}

// Realtime event shapes the simulator emits: plain objects, built where they are sent.
type ServerEvent = { type: string } & Record<string, unknown>;

class SimulatorSession implements Tickable {
  readonly stats: SimulatorSessionStats;
  private eventSeq = 0;
  private inSpeech = false;
  private speechFrames = 0;
  private silenceMs = 0;
  private audioMs = 0;
  private response: ActiveResponse | null = null;
  private readonly items = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly ws: WebSocket,
    private readonly rawSocket: Duplex,
    callSid: string | null,
    private readonly config: SessionConfig,
    private readonly dropApplies: boolean,
  ) {
    this.stats = {
      id: `sess_${randomUUID().replace(/-/g, '').slice(0, 20)}`,
      callSid,
      open: true,
      sessionUpdates: 0,
      appendsReceived: 0,
      audioBytesReceived: 0,
      speechStarted: 0,
      speechStopped: 0,
      responsesStarted: 0,
      responsesCompleted: 0,
      responsesCancelled: 0,
      audioDeltasSent: 0,
      truncations: [],
      clientErrors: 0,
    };
    ws.on('message', (data, isBinary) => this.onMessage(data.toString(), isBinary));
    ws.on('error', () => ws.terminate());
    this.send({
      type: 'session.created',
      session: { id: this.stats.id, object: 'realtime.session', type: 'realtime', model: 'callsim-simulator' },
    });
  }

  end(): void {
    this.stats.open = false;
    this.response = null;
    this.config.ticker.unsubscribe(this);
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  terminate(): void {
    this.end();
    this.ws.terminate();
  }

  private onMessage(text: string, isBinary: boolean): void {
    let event: unknown;
    try {
      if (isBinary) throw new Error('binary frame');
      event = JSON.parse(text);
    } catch {
      this.clientError('invalid_json', 'could not parse event as JSON');
      return;
    }
    if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string') {
      this.clientError('invalid_event', 'event has no type');
      return;
    }
    const e = event as { type: string } & Record<string, unknown>;
    switch (e.type) {
      case 'session.update':
        this.stats.sessionUpdates += 1;
        this.later(this.config.faults.sessionReadyDelayMs ?? 0, () =>
          this.send({ type: 'session.updated', session: { id: this.stats.id, object: 'realtime.session', type: 'realtime', ...(e.session as object) } }),
        );
        break;
      case 'input_audio_buffer.append':
        this.onAppend(e.audio);
        break;
      case 'input_audio_buffer.commit':
        this.send({ type: 'input_audio_buffer.committed', item_id: this.newId('item') });
        break;
      case 'input_audio_buffer.clear':
        this.send({ type: 'input_audio_buffer.cleared' });
        break;
      case 'response.create':
        this.startResponse();
        break;
      case 'response.cancel':
        this.cancelResponse();
        break;
      case 'conversation.item.truncate':
        this.onTruncate(e.item_id, e.audio_end_ms, e.content_index);
        break;
      default:
        this.clientError('unknown_event', `unsupported event type "${e.type}"`);
    }
  }

  private onAppend(audio: unknown): void {
    if (typeof audio !== 'string') {
      this.clientError('invalid_audio', 'input_audio_buffer.append without base64 audio');
      return;
    }
    const bytes = Buffer.from(audio, 'base64');
    this.stats.appendsReceived += 1;
    this.stats.audioBytesReceived += bytes.length;
    this.config.onAppend?.(this.stats.callSid, bytes);
    const faults = this.config.faults;
    if (this.dropApplies && faults.dropAfterAppends !== undefined && this.stats.appendsReceived >= faults.dropAfterAppends) {
      this.terminate();
      return;
    }
    if (faults.stallAfterAppends !== undefined && this.stats.appendsReceived === faults.stallAfterAppends) {
      // Read nothing more: the client's writes back up in TCP and then in its own buffer.
      this.rawSocket.pause();
      if (faults.stallMs !== undefined) this.later(faults.stallMs, () => this.rawSocket.resume());
      return;
    }
    if (faults.malformedAfterAppends !== undefined && this.stats.appendsReceived === faults.malformedAfterAppends) {
      if (this.ws.readyState === this.ws.OPEN) this.ws.send('{"type": "response.output_audio.delta", broken');
    }
    this.detectVoice(bytes);
  }

  // Server VAD: a couple of loud frames start speech, SILENCE_MS_TO_STOP of quiet ends the turn.
  private detectVoice(bytes: Buffer): void {
    const frameMs = bytes.length / 8;
    this.audioMs += frameMs;
    const loud = mulawRms(bytes) > this.config.vadThreshold;
    if (!this.inSpeech) {
      this.speechFrames = loud ? this.speechFrames + 1 : 0;
      if (this.speechFrames >= SPEECH_FRAMES_TO_START) {
        this.inSpeech = true;
        this.silenceMs = 0;
        this.stats.speechStarted += 1;
        this.send({ type: 'input_audio_buffer.speech_started', audio_start_ms: Math.round(this.audioMs - frameMs * SPEECH_FRAMES_TO_START), item_id: this.newId('item') });
        // interrupt_response: the caller talking over the answer cancels it.
        if (this.response) this.cancelResponse();
      }
      return;
    }
    this.silenceMs = loud ? 0 : this.silenceMs + frameMs;
    if (this.silenceMs >= SILENCE_MS_TO_STOP) {
      this.inSpeech = false;
      this.speechFrames = 0;
      this.stats.speechStopped += 1;
      const itemId = this.newId('item');
      this.send({ type: 'input_audio_buffer.speech_stopped', audio_end_ms: Math.round(this.audioMs - this.silenceMs), item_id: itemId });
      this.send({ type: 'input_audio_buffer.committed', item_id: itemId, previous_item_id: null });
      this.startResponse();
    }
  }

  private startResponse(): void {
    const delayMs = this.config.faults.answerDelayMs ?? 0;
    if (delayMs > 0) {
      this.later(delayMs, () => this.beginResponse());
      return;
    }
    this.beginResponse();
  }

  private beginResponse(): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.response) this.cancelResponse();
    const id = this.newId('resp');
    const itemId = this.newId('item');
    this.items.add(itemId);
    this.response = { id, itemId, offset: 0, startedAt: performance.now() };
    this.stats.responsesStarted += 1;
    this.send({ type: 'response.created', response: { id, object: 'realtime.response', status: 'in_progress', output: [] } });
    this.send({
      type: 'response.output_item.added',
      response_id: id,
      output_index: 0,
      item: { id: itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: 'in_progress', content: [] },
    });
    this.send({ type: 'response.content_part.added', response_id: id, item_id: itemId, output_index: 0, content_index: 0, part: { type: 'audio' } });
    this.config.ticker.subscribe(this);
  }

  /** Stream due audio of the active response; paced at streamSpeed × real time. */
  tick(now: number): boolean {
    const response = this.response;
    if (!response || this.ws.readyState !== this.ws.OPEN) return false;
    const answer = this.config.answer;
    const dueBytes = ((now - response.startedAt) * 8 * this.config.streamSpeed) + this.config.deltaBytes;
    while (response.offset < answer.length && response.offset < dueBytes) this.sendDelta(response);
    if (response.offset < answer.length) return true;
    this.finishResponse('completed');
    return false;
  }

  private sendDelta(response: ActiveResponse): void {
    const chunk = this.config.answer.subarray(response.offset, response.offset + this.config.deltaBytes);
    response.offset += chunk.length;
    this.stats.audioDeltasSent += 1;
    this.send({
      type: 'response.output_audio.delta',
      response_id: response.id,
      item_id: response.itemId,
      output_index: 0,
      content_index: 0,
      delta: chunk.toString('base64'),
    });
  }

  private cancelResponse(): void {
    const response = this.response;
    if (!response) return;
    for (let i = 0; i < (this.config.faults.lateDeltasAfterCancel ?? 0) && response.offset < this.config.answer.length; i++) this.sendDelta(response);
    this.finishResponse('cancelled');
  }

  private finishResponse(status: 'completed' | 'cancelled'): void {
    const response = this.response;
    if (!response) return;
    this.response = null;
    this.config.ticker.unsubscribe(this);
    const base = { response_id: response.id, item_id: response.itemId, output_index: 0, content_index: 0 };
    if (status === 'completed') {
      this.stats.responsesCompleted += 1;
      this.send({ type: 'response.output_audio.done', ...base });
      this.send({ type: 'response.content_part.done', ...base, part: { type: 'audio' } });
    } else {
      this.stats.responsesCancelled += 1;
    }
    this.send({
      type: 'response.output_item.done',
      response_id: response.id,
      output_index: 0,
      item: { id: response.itemId, object: 'realtime.item', type: 'message', role: 'assistant', status: status === 'completed' ? 'completed' : 'incomplete', content: [] },
    });
    this.send({ type: 'response.done', response: { id: response.id, object: 'realtime.response', status, output: [] } });
  }

  private onTruncate(itemId: unknown, audioEndMs: unknown, contentIndex: unknown): void {
    if (typeof itemId !== 'string' || !this.items.has(itemId)) {
      this.clientError('item_not_found', `conversation.item.truncate: unknown item ${String(itemId)}`);
      return;
    }
    if (typeof audioEndMs !== 'number' || !Number.isFinite(audioEndMs) || audioEndMs < 0) {
      this.clientError('invalid_value', 'conversation.item.truncate: audio_end_ms must be a non-negative number');
      return;
    }
    if (this.response?.itemId === itemId) this.cancelResponse();
    this.stats.truncations.push({ itemId, audioEndMs });
    this.send({ type: 'conversation.item.truncated', item_id: itemId, content_index: typeof contentIndex === 'number' ? contentIndex : 0, audio_end_ms: audioEndMs });
  }

  private clientError(code: string, message: string): void {
    this.stats.clientErrors += 1;
    this.send({ type: 'error', error: { type: 'invalid_request_error', code, message, param: null, event_id: null } });
  }

  private send(event: ServerEvent): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.eventSeq += 1;
    this.ws.send(JSON.stringify({ event_id: `event_${this.stats.id}_${this.eventSeq}`, ...event }));
  }

  private later(delayMs: number, fn: () => void): void {
    if (delayMs <= 0) {
      fn();
      return;
    }
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, delayMs);
    this.timers.add(timer);
  }

  private newId(prefix: string): string {
    return `${prefix}_${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  }
}

// Synthesised once per process per length: every answer is the same speech-like audio.
const answerCache = new Map<number, Buffer>();
function answerAudio(durationMs: number): Buffer {
  const cached = answerCache.get(durationMs);
  if (cached) return cached;
  const samples = synthesizeSpeechLike({ durationMs, sampleRate: 8000, seed: 7, utterances: [{ startMs: 0, endMs: durationMs }] });
  const audio = floatToMulaw(samples);
  answerCache.set(durationMs, audio);
  return audio;
}
