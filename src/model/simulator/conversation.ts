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

export class Conversation {
  private readonly order: string[] = [];
  private readonly items = new Map<string, StoredItem>();

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
    return index === 0 ? null : (this.order[index - 1] ?? null);
  }

  delete(id: string): boolean {
    if (!this.items.delete(id)) return false;
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
  if (item.type !== 'message' || stored.audioBytes === 0) return item;
  const audio = Buffer.concat(stored.audio).toString('base64');
  return { ...item, content: item.content.map((c, i) => (i === 0 ? { ...c, audio } : c)) } as ConversationItem;
}
