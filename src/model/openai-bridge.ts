// The one model bridge: the `openai` SDK's realtime WebSocket client. Pointed at api.openai.com
// it is the real OpenAI Realtime API; pointed at the embedded simulator it is the same code path,
// so tests exercise exactly what production runs.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import type { ModelBridge, ModelBridgeFactory, ModelBridgeListener, ModelBridgeState, ModelSessionOptions } from './bridge.js';

export interface RealtimeBridgeConfig {
  apiKey: string;
  /** e.g. https://api.openai.com/v1, or http://127.0.0.1:PORT/v1 for the simulator. */
  baseURL: string;
  model: string;
  /**
   * How `ws` reaches the model. The SDK always dials wss:// ('tls'). A plain-ws simulator gets a
   * TCP connector instead ('tcp'); the embedded simulator a function that opens an in-process
   * stream to it. Either way the upgrade request and every event go through the SDK client.
   */
  transport: 'tls' | 'tcp' | (() => Duplex);
  /** Milliseconds to wait for the session to become ready before giving up. */
  connectTimeoutMs?: number;
}

export const DEFAULT_OPENAI_BASE_URL = 'https://api.openai.com/v1';
export const DEFAULT_REALTIME_MODEL = 'gpt-realtime';

// ws's types ask for net.createConnection, but ws takes any Duplex (it only calls setNoDelay and
// setTimeout where they exist).
function connectorFor(transport: 'tcp' | (() => Duplex)): typeof net.createConnection {
  return transport === 'tcp' ? net.createConnection : (transport as unknown as typeof net.createConnection);
}

export function createRealtimeBridgeFactory(config: RealtimeBridgeConfig): ModelBridgeFactory {
  // One SDK client per process; each call opens its own realtime socket from it.
  const client = new OpenAI({ apiKey: config.apiKey, baseURL: config.baseURL, maxRetries: 0 });
  return (options, listener) => new RealtimeBridge(client, config, options, listener);
}

const APPEND_PREFIX = '{"type":"input_audio_buffer.append","audio":"';
const APPEND_SUFFIX = '"}';

class RealtimeBridge implements ModelBridge {
  state: ModelBridgeState = 'connecting';
  private readonly rt: OpenAIRealtimeWS;
  private closedByUs = false;
  private readonly connectTimer: NodeJS.Timeout;
  /** A response in the default conversation is under way (between response.created and response.done). */
  private responding = false;
  /** A user input came while one was: answer it once that one is done. */
  private answerAfterResponse = false;
  /** The event_id of our last response.cancel: its "nothing to cancel" error means the answer had just ended. */
  private cancelEventId: string | null = null;
  private cancels = 0;

  constructor(
    client: OpenAI,
    config: RealtimeBridgeConfig,
    private readonly options: ModelSessionOptions,
    private readonly listener: ModelBridgeListener,
  ) {
    this.rt = new OpenAIRealtimeWS(
      {
        model: config.model,
        options: {
          headers: { 'x-callsim-call-sid': options.callSid },
          ...(config.transport === 'tls' ? {} : { createConnection: connectorFor(config.transport) }),
        },
      },
      client,
    );
    const timeoutMs = config.connectTimeoutMs ?? 10_000;
    this.connectTimer = setTimeout(() => {
      if (this.state === 'connecting') this.finish(`model session not ready after ${timeoutMs} ms`, false);
    }, timeoutMs);
    this.connectTimer.unref();

    const socket = this.rt.socket;
    socket.on('open', () => this.configureSession());
    socket.on('close', (code, reason) => {
      this.finish(`model socket closed (${code}${reason.length ? ' ' + reason.toString() : ''})`, this.closedByUs);
    });
    socket.on('unexpected-response', (_req, res) => {
      this.finish(`model refused the connection: HTTP ${res.statusCode ?? '?'}`, false);
    });

    // The SDK reports socket errors, unparsable events and `error` events here.
    this.rt.on('error', (err) => {
      if (this.state === 'closed') return;
      // The answer finished (response.done on its way) as we cancelled it: the cancel was moot, not a fault.
      if (err.error?.code === 'response_cancel_not_active' && this.cancelEventId !== null && err.error.event_id === this.cancelEventId) return;
      listener.onError('model_error', err.message.split('\n')[0] ?? 'model error');
    });
    this.rt.on('session.updated', () => {
      if (this.state !== 'connecting') return;
      clearTimeout(this.connectTimer);
      this.state = 'ready';
      listener.onReady();
    });
    this.rt.on('response.output_audio.delta', (event) => {
      if (typeof event.delta === 'string' && event.delta.length > 0) listener.onAudioDelta(event.delta, event.item_id);
    });
    this.rt.on('input_audio_buffer.speech_started', () => listener.onSpeechStarted());
    this.rt.on('input_audio_buffer.speech_stopped', () => listener.onSpeechStopped?.());
    this.rt.on('response.created', () => {
      this.responding = true;
    });
    this.rt.on('response.done', (event) => {
      this.responding = false;
      listener.onResponseDone(event.response?.status ?? 'completed');
      if (this.answerAfterResponse) {
        this.answerAfterResponse = false;
        this.createResponse();
      }
    });
  }

  get bufferedAmount(): number {
    return this.rt.socket.bufferedAmount;
  }

  appendAudio(base64Audio: string): boolean {
    // A socket the model side has begun to close drops writes silently: refuse instead.
    if (this.state !== 'ready' || this.rt.socket.readyState !== this.rt.socket.OPEN) return false;
    // Hot path: splice the caller's base64 straight into a constant frame, no decode, no stringify.
    this.rt.socket.send(APPEND_PREFIX + base64Audio + APPEND_SUFFIX);
    return true;
  }

  createResponse(): void {
    if (this.state !== 'ready') return;
    // Taken as under way from now: a user input before response.created arrives must not ask for a second.
    this.responding = true;
    this.rt.send({ type: 'response.create' });
  }

  truncate(itemId: string, audioEndMs: number): void {
    if (this.state !== 'ready') return;
    this.rt.send({ type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: Math.max(0, Math.round(audioEndMs)) });
  }

  cancelResponse(): void {
    // Docs (response.cancel): with nothing in progress it is an error event; so only while responding.
    if (this.state !== 'ready' || !this.responding) return;
    this.cancels += 1;
    this.cancelEventId = `callsim_cancel_${this.cancels}`;
    this.rt.send({ type: 'response.cancel', event_id: this.cancelEventId });
  }

  userInput(text: string): void {
    if (this.state !== 'ready') return;
    this.rt.send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } });
    // Docs (response.create): one response at a time in the default conversation; a second is an error.
    if (this.responding) this.answerAfterResponse = true;
    else this.createResponse();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.closedByUs = true;
    this.finish('closed by call', true);
  }

  private configureSession(): void {
    this.rt.send({
      type: 'session.update',
      session: {
        type: 'realtime',
        output_modalities: ['audio'],
        instructions: this.options.instructions,
        audio: {
          input: {
            format: { type: 'audio/pcmu' },
            // The call decides when the caller's talk is an interruption (barge-in.ts): a short
            // "mm-hmm" must not cut the answer, as interrupt_response would at the first sound.
            turn_detection: { type: 'server_vad', silence_duration_ms: 500, create_response: true, interrupt_response: false },
          },
          output: { format: { type: 'audio/pcmu' }, voice: this.options.voice },
        },
      },
    });
  }

  private finish(reason: string, expected: boolean): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.connectTimer);
    const socket = this.rt.socket;
    if (socket.readyState === socket.OPEN) this.rt.close({ code: 1000, reason: 'call ended' });
    else if (socket.readyState === socket.CONNECTING) socket.terminate();
    this.listener.onClosed(reason, expected);
  }
}
