// Which responses run: at most one in the default conversation at a time (docs:
// ResponseCreateEvent, "Only one Response can write to the default Conversation at a time"),
// any number out of band (conversation "none"). It turns the session config, a response.create's
// overrides and the model script's turn into a ResponsePlan.
import type { AudioFormatType } from './audio-formats.js';
import { functionTools, outputFormat, type EffectiveSession } from './config.js';
import type { ResponseParams } from './client-events.js';
import { errors } from './errors.js';
import { synthesizedAnswer, wavAnswer } from './answer-audio.js';
import { ActiveResponse, type ResponseHost, type ResponsePlan } from './response.js';
import type { LoadedModelScript } from './script.js';

export const DEFAULT_TRANSCRIPT = 'This is a simulated answer from callsim.';

export interface ResponseSettings {
  answerMs: number;
  deltaMs: number;
  streamSpeed: number;
  lateDeltasAfterCancel: number;
  script: LoadedModelScript | null;
}

export interface ResponsesHost extends ResponseHost {
  session(): EffectiveSession;
  later(ms: number, fn: () => void): void;
  /** Extra wait before a response starts at all (the slow-model fault). */
  readonly answerDelayMs: number;
  isOpen(): boolean;
  /** Assistant audio was sent: the voice is locked from now on. */
  audioSent(): void;
}

export class ResponseManager {
  active: ActiveResponse | null = null;
  private readonly outOfBand = new Set<ActiveResponse>();
  private turns = 0;

  constructor(private readonly host: ResponsesHost, private readonly settings: ResponseSettings) {}

  create(trigger: 'vad' | 'client' | 'idle', params: ResponseParams | undefined = undefined): void {
    const inConversation = params?.conversation === undefined || params.conversation === 'auto';
    if (inConversation && this.active) {
      // Docs (interrupt_response): a VAD turn "may fail to create a response if the model is already responding".
      if (trigger === 'client') this.host.sendError(errors.activeResponse(this.active.id));
      return;
    }
    const plan = this.plan(trigger, params, inConversation);
    const begin = (): void => {
      if (!this.host.isOpen() || (inConversation && this.active)) return;
      const response = new ActiveResponse(plan, this.host);
      if (inConversation) this.active = response;
      else this.outOfBand.add(response);
      response.start();
    };
    if (this.host.answerDelayMs > 0) this.host.later(this.host.answerDelayMs, begin);
    else begin();
  }

  /** response.cancel: the given response, or the default conversation's. */
  cancel(responseId: string | undefined): void {
    const target = responseId === undefined ? this.active : [this.active, ...this.outOfBand].find((r) => r?.id === responseId) ?? null;
    if (!target || !target.cancel('client_cancelled')) this.host.sendError(errors.cancelNotActive());
  }

  /** VAD heard the caller: cancel the default conversation's response (interrupt_response). */
  interrupt(): void {
    this.active?.cancel('turn_detected');
  }

  cancelResponseOf(itemId: string): void {
    if (this.active?.itemId === itemId) this.active.cancel('client_cancelled');
  }

  audioSentOf(itemId: string): number | null {
    for (const response of [this.active, ...this.outOfBand]) if (response?.itemId === itemId) return response.audioSentMs;
    return null;
  }

  ended(response: ActiveResponse): void {
    if (this.active === response) this.active = null;
    this.outOfBand.delete(response);
    if (response.record.audioBytes > 0) this.host.audioSent();
  }

  /** Ends every response without events (the socket is gone). */
  stopAll(): void {
    for (const response of [this.active, ...this.outOfBand]) if (response) this.host.ticker.unsubscribe(response);
    this.active = null;
    this.outOfBand.clear();
  }

  private plan(trigger: 'vad' | 'client' | 'idle', params: ResponseParams | undefined, inConversation: boolean): ResponsePlan {
    const session = this.host.session();
    const turn = this.settings.script?.turn(this.turns) ?? null;
    this.turns += 1;
    const modality = (params?.output_modalities ?? session.output_modalities ?? ['audio'])[0] ?? 'audio';
    const format: AudioFormatType = params?.audio?.output?.format?.type ?? outputFormat(session);
    const voiceSetting = params?.audio?.output?.voice ?? session.audio?.output?.voice ?? 'alloy';
    const voice = typeof voiceSetting === 'string' ? voiceSetting : voiceSetting.id;
    const tools = functionTools(params?.tools ?? session.tools);
    const choice = params?.tool_choice ?? session.tool_choice;
    let toolCall: ResponsePlan['toolCall'] = null;
    if (choice !== 'none') {
      const forced = typeof choice === 'object' && choice.type === 'function' ? choice.name : null;
      const name = turn?.toolCall?.name ?? forced ?? (choice === 'required' ? tools[0]?.name : undefined);
      if (name !== undefined && tools.some((t) => t.name === name)) {
        toolCall = { name, arguments: turn?.toolCall?.name === name ? turn.toolCall.arguments : '{}', callId: turn?.toolCall?.callId ?? this.host.newId('call') };
      }
    }
    let audio: Buffer | null = null;
    if (modality === 'audio' && toolCall === null) {
      audio = turn?.wav ? wavAnswer(turn.wav, format) : synthesizedAnswer(turn?.speechMs ?? this.settings.answerMs, format);
    }
    return {
      trigger, inConversation, modality, format, voice, audio, toolCall,
      transcript: turn?.transcript ?? DEFAULT_TRANSCRIPT,
      latencyMs: turn?.latencyMs ?? 0,
      streamSpeed: turn?.streamSpeed ?? this.settings.streamSpeed,
      deltaMs: this.settings.deltaMs,
      fault: turn?.fault ?? null,
      scriptTurn: turn === null ? null : turn.index,
      lateDeltasAfterCancel: this.settings.lateDeltasAfterCancel,
      metadata: params?.metadata ?? null,
    };
  }
}
