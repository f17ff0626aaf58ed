// The conversation item client events: create, delete, retrieve, truncate (docs:
// ConversationItemCreateEvent and friends), each answered as the live API answers it.
import type { ConversationItem } from 'openai/resources/realtime/realtime';
import { bytesPerMs } from './audio-formats.js';
import type { ClientEvent, ClientItem } from './client-events.js';
import { withAudio, withoutAudio, type Conversation, type StoredItem } from './conversation.js';
import { errors, type ErrorBody } from './errors.js';
import type { OutgoingEvent } from './events.js';
import { nowMs, type SessionRecorder } from './record.js';

export interface ItemHost {
  send(event: OutgoingEvent): void;
  sendError(error: ErrorBody): void;
  readonly conversation: Conversation;
  readonly recorder: SessionRecorder;
  newId(prefix: string): string;
  /** The response still streaming audio into this item, cancelled before a truncation; or nothing. */
  cancelResponseOf(itemId: string): void;
  audioSentOf(itemId: string): number | null;
}

type EventOf<T extends ClientEvent['type']> = Extract<ClientEvent, { type: T }>;

function toItem(item: ClientItem, id: string): ConversationItem & { id: string } {
  // The client's fields, with the id and object the server fills in; status completed, as echoed live.
  return { ...item, id, object: 'realtime.item', status: 'completed' } as ConversationItem & { id: string };
}

/** Docs (ConversationItemWithReference.content): the content types each role may carry. */
const CONTENT_BY_ROLE: Record<'system' | 'user' | 'assistant', readonly string[]> = {
  system: ['input_text'],
  user: ['input_text', 'input_audio', 'input_image'],
  // "it cannot populate assistant audio messages"
  assistant: ['output_text', 'text'],
};

export function createItem(host: ItemHost, event: EventOf<'conversation.item.create'>): void {
  const { item } = event;
  if (item.type === 'message') {
    const allowed = CONTENT_BY_ROLE[item.role];
    const bad = item.content.findIndex((c) => !allowed.includes(c.type));
    if (bad >= 0) return host.sendError(errors.contentTypeForRole(item.role, item.content[bad]!.type, bad, allowed));
  }
  const previous = event.previous_item_id ?? undefined;
  if (previous !== undefined && previous !== 'root' && !host.conversation.has(previous)) return host.sendError(errors.unknownPreviousItem(previous));
  if (item.id !== undefined && host.conversation.has(item.id)) return host.sendError(errors.duplicateItemId(item.id));
  // Docs: "the server will check that a function_call item with the same ID exists".
  if (item.type === 'function_call_output' && !host.conversation.hasCall(item.call_id)) return host.sendError(errors.unknownCallId(item.call_id));
  const id = item.id ?? host.newId('item');
  const full = toItem(item, id);
  const stored: StoredItem = { item: full, audio: [], audioBytes: 0, audioFormat: null, audioMs: 0 };
  if (full.type === 'message') {
    for (const part of full.content) {
      if ('audio' in part && typeof part.audio === 'string') {
        const bytes = Buffer.from(part.audio, 'base64');
        stored.audio.push(bytes);
        stored.audioBytes += bytes.length;
      }
    }
  }
  const before = host.conversation.add(stored, previous);
  host.recorder.push('items', { id, type: full.type, role: full.type === 'message' ? full.role : null, by: 'client', at: nowMs(), deletedAt: null });
  const announced = withoutAudio(full);
  host.send({ type: 'conversation.item.added', previous_item_id: before, item: announced });
  host.send({ type: 'conversation.item.done', previous_item_id: before, item: announced });
}

export function deleteItem(host: ItemHost, event: EventOf<'conversation.item.delete'>): void {
  if (!host.conversation.delete(event.item_id)) return host.sendError(errors.deleteUnknownItem(event.item_id));
  const recorded = host.recorder.record.items.find((i) => i.id === event.item_id);
  if (recorded) recorded.deletedAt = nowMs();
  host.send({ type: 'conversation.item.deleted', item_id: event.item_id });
}

export function retrieveItem(host: ItemHost, event: EventOf<'conversation.item.retrieve'>): void {
  const stored = host.conversation.get(event.item_id);
  if (!stored) return host.sendError(errors.retrieveUnknownItem(event.item_id));
  host.send({ type: 'conversation.item.retrieved', item: withAudio(stored) });
}

export function truncateItem(host: ItemHost, event: EventOf<'conversation.item.truncate'>): void {
  const { item_id: itemId, audio_end_ms: audioEndMs, content_index: contentIndex } = event;
  const stored = host.conversation.get(itemId);
  const sentMs = host.audioSentOf(itemId) ?? stored?.audioMs ?? null;
  const entry = { at: nowMs(), itemId, audioEndMs, audioSentMs: stored?.audioFormat ? sentMs : null, accepted: false };
  host.recorder.push('truncations', entry);
  if (!stored) return host.sendError(errors.truncateUnknownItem(itemId));
  const { item } = stored;
  if (item.type !== 'message' || item.role !== 'assistant' || stored.audioFormat === null || contentIndex !== 0) return host.sendError(errors.truncateNotAudio());
  // Docs: "If the audio_end_ms is greater than the actual audio duration, the server will respond with an error."
  if (audioEndMs > (sentMs ?? 0)) return host.sendError(errors.truncatePastEnd(sentMs ?? 0, audioEndMs));
  host.cancelResponseOf(itemId);
  entry.accepted = true;
  const keep = Math.floor(audioEndMs * bytesPerMs(stored.audioFormat));
  const held = stored.audio.reduce((n, b) => n + b.length, 0);
  const audio = Buffer.concat(stored.audio).subarray(0, keep);
  stored.audio = [audio];
  host.conversation.keptAudio(audio.length - held);
  stored.audioBytes = audio.length;
  stored.audioMs = audioEndMs;
  // Docs: truncating "will delete the server-side text transcript".
  item.content = item.content.map((c) => ('transcript' in c ? { ...c, transcript: '' } : c));
  host.send({ type: 'conversation.item.truncated', item_id: itemId, content_index: contentIndex, audio_end_ms: audioEndMs });
}
