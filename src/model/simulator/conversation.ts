// The default conversation: its items in order, with what each one holds. Items are announced
// without their audio (docs: conversation.item.added/done "except for audio data") and returned
// with it by conversation.item.retrieve.
import type { ConversationItem } from 'openai/resources/realtime/realtime';
import type { AudioFormatType } from './audio-formats.js';

export interface StoredItem {
  item: ConversationItem & { id: string };
  /** Audio the item holds (user input, or what the model has sent of an answer), and its format. */
  audio: Buffer[];
  audioBytes: number;
  audioFormat: AudioFormatType | null;
  /** Milliseconds of audio the item holds; for an answer, what has been sent so far. */
  audioMs: number;
}

/**
 * Audio the conversation keeps for retrieve, over all its items (4 s of G.711, enough for the
 * turn an agent retrieves after its transcript or a truncation): past it the oldest items' audio
 * is let go (their transcripts and counts stay), so a call's memory stays flat. The live API
 * keeps it all; a retrieve of an older item here comes without its audio.
 */
export const MAX_CONVERSATION_AUDIO_BYTES = 32 * 1024;

export class Conversation {
  private readonly order: string[] = [];
  private readonly items = new Map<string, StoredItem>();
  private audioKept = 0;

  get(id: string): StoredItem | undefined {
    return this.items.get(id);
  }

  has(id: string): boolean {
    return this.items.has(id);
  }

  get size(): number {
    return this.order.length;
  }

  /** The id of the last item, or null when the conversation is empty. */
  last(): string | null {
    return this.order[this.order.length - 1] ?? null;
  }

  /**
   * Adds an item after `previous` ('root' = first, undefined = at the end); returns the id of
   * the item before it, or null.
   */
  add(stored: StoredItem, previous?: string): string | null {
    const id = stored.item.id;
    let index = this.order.length;
    if (previous === 'root') index = 0;
    else if (previous !== undefined) index = this.order.indexOf(previous) + 1;
    this.order.splice(index, 0, id);
    this.items.set(id, stored);
    this.keptAudio(stored.audioBytes);
    return index === 0 ? null : (this.order[index - 1] ?? null);
  }

  /** Counts audio an item holds (or has grown by) against the cap, letting the oldest go past it. */
  keptAudio(bytes: number): void {
    this.audioKept += bytes;
    for (let i = 0; this.audioKept > MAX_CONVERSATION_AUDIO_BYTES && i < this.order.length - 1; i++) {
      const old = this.items.get(this.order[i]!)!;
      const held = old.audio.reduce((n, b) => n + b.length, 0);
      if (held === 0) continue;
      old.audio = [];
      this.audioKept -= held;
    }
  }

  delete(id: string): boolean {
    const stored = this.items.get(id);
    if (!stored || !this.items.delete(id)) return false;
    this.audioKept -= stored.audio.reduce((n, b) => n + b.length, 0);
    this.order.splice(this.order.indexOf(id), 1);
    return true;
  }

  /** Every item, in conversation order. */
  all(): StoredItem[] {
    return this.order.map((id) => this.items.get(id)!);
  }

  /** A function_call item with this call_id, if any (function_call_output must name one). */
  hasCall(callId: string): boolean {
    for (const stored of this.items.values()) if (stored.item.type === 'function_call' && stored.item.call_id === callId) return true;
    return false;
  }
}

/** The item as the API announces it: no audio bytes. */
export function withoutAudio(item: ConversationItem): ConversationItem {
  if (item.type !== 'message' || !item.content.some((c) => 'audio' in c && c.audio !== undefined)) return item;
  return { ...item, content: item.content.map(({ audio: _audio, ...rest }: { audio?: string }) => rest) } as ConversationItem;
}

/** The item as conversation.item.retrieve returns it: with its audio, base64. */
export function withAudio(stored: StoredItem): ConversationItem {
  const { item } = stored;
  if (item.type !== 'message' || stored.audio.length === 0) return item;
  const audio = Buffer.concat(stored.audio).toString('base64');
  return { ...item, content: item.content.map((c, i) => (i === 0 ? { ...c, audio } : c)) } as ConversationItem;
}
