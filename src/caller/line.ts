// The media socket of one fake call: dials the server's Media Streams URL (with the upgrade
// headers Twilio sends, X-Twilio-Signature among them), carries text frames both ways and keeps
// how it ended. Its states: dialling -> open -> closed, or dialling -> closed when the upgrade
// fails. Network trouble is never thrown: it is kept as connectError (before open) or
// socketError (after), for the call's record. Media frames go through a congestion check:
// Twilio discards audio when the server's socket stays backed up (warning 31930), and so does
// this line, instead of buffering without bound.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { MAX_MESSAGE_BYTES } from '../twilio/codec.js';
import { printable } from '../text/printable.js';

export type LineState = 'dialling' | 'open' | 'closed';

/** What the line does with the next media frame: send it, discard it, or nothing (it is closed). */
export type MediaSendResult = 'sent' | 'dropped' | 'closed';

/**
 * Whether the server keeps up with the audio Twilio sends it: 'flowing' while every frame leaves
 * at once, 'backed-up' once one had to wait in the socket (the kernel's buffers toward the server
 * are full: it is not reading), 'dropping' when that has lasted longer than the limit.
 */
export type CongestionState = 'flowing' | 'backed-up' | 'dropping';

export interface LineHandlers {
  /** The socket is open: Twilio's side speaks first. */
  onOpen(): void;
  onMessage(raw: Buffer, isBinary: boolean): void;
  /** The socket has closed, whoever closed it (also when it never opened). */
  onClosed(): void;
}

/** One line for a socket error; Node's happy-eyeballs AggregateError has an empty message. */
function describeSocketError(err: NodeJS.ErrnoException): string {
  const inner = err instanceof AggregateError ? (err.errors[0] as NodeJS.ErrnoException | undefined) : undefined;
  const message = err.message || inner?.message || '';
  const code = err.code ?? inner?.code;
  if (!message) return code ?? 'connection failed';
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

function asBuffer(data: WebSocket.RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export class MediaLine {
  private socket: WebSocket | null = null;
  private current: LineState = 'dialling';
  /** Whether the socket ever opened (it stays true once closed). */
  opened = false;
  /** The caller, not the server, began the close (or gave up dialling). */
  closedByCaller = false;
  /** Why the WebSocket never opened (ECONNREFUSED, HTTP 404 on upgrade, handshake timeout...). */
  connectError: string | null = null;
  /** A WebSocket-level error after the connection opened (bad frame, reset...). */
  socketError: string | null = null;
  closeCode: number | null = null;
  closeReason = '';
  /** performance.now() instant the socket closed. */
  closedAt: number | null = null;
  private congestion: CongestionState = 'flowing';
  private backedUpSince = 0;
  /** Media frames discarded because the server's socket stayed backed up. */
  mediaDropped = 0;
  private resolveClosed: () => void = () => {};
  readonly closed = new Promise<void>((resolve) => {
    this.resolveClosed = resolve;
  });

  /**
   * `congestionLimitMs`: wall ms the socket may stay backed up before media frames are dropped;
   * null never drops (a burst replay, which no real Twilio call is).
   */
  constructor(
    private readonly handlers: LineHandlers,
    private readonly congestionLimitMs: number | null = null,
  ) {}

  get state(): LineState {
    return this.current;
  }

  get congestionState(): CongestionState {
    return this.congestion;
  }

  /** Resolves true once open, false when the socket closed (or could not be made) first. */
  dial(url: string, handshakeTimeoutMs: number, headers: Readonly<Record<string, string>> = {}): Promise<boolean> {
    return new Promise((resolve) => {
      let socket: WebSocket;
      try {
        // maxPayload: a frame past the largest message either side takes is refused by ws (1009)
        // as it arrives, never buffered whole (ws's own default would take 100 MiB per frame).
        socket = new WebSocket(url, { handshakeTimeout: handshakeTimeoutMs, perMessageDeflate: false, maxPayload: MAX_MESSAGE_BYTES, headers: { ...headers } });
      } catch (err) {
        // Invalid URL and the like are thrown synchronously by the constructor.
        this.connectError = (err as Error).message;
        this.markClosed(null, '');
        resolve(false);
        return;
      }
      this.socket = socket;
      socket.on('open', () => {
        this.opened = true;
        this.current = 'open';
        this.handlers.onOpen();
        resolve(true);
      });
      socket.on('message', (data, isBinary) => this.handlers.onMessage(asBuffer(data), isBinary));
      socket.on('error', (err: NodeJS.ErrnoException) => {
        // Before open: ECONNREFUSED, "Unexpected server response: 404", handshake timeout, DNS...
        // Kept printable: a message can quote what the server sent.
        if (!this.opened) this.connectError ??= printable(describeSocketError(err));
        else this.socketError ??= printable(err.message);
      });
      socket.on('close', (code, reason) => {
        this.markClosed(code, reason.toString('utf8'));
        if (!this.opened) {
          this.connectError ??= 'connection closed before the WebSocket opened';
          resolve(false);
        }
      });
    });
  }

  /** Sends one text frame; false when the line is not open. */
  send(frame: string): boolean {
    const socket = this.socket;
    if (this.current !== 'open' || !socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(frame);
    return true;
  }

  /**
   * Whether the next media frame may go out: not while the server has left its socket backed up
   * for longer than the congestion limit; then the frame is discarded, as Twilio discards audio
   * (warning 31930). Asked before the frame is built, so a discarded frame takes no sequence number.
   */
  admitMedia(now: number): MediaSendResult {
    const socket = this.socket;
    if (this.current !== 'open' || !socket || socket.readyState !== WebSocket.OPEN) return 'closed';
    if (socket.bufferedAmount === 0) {
      this.congestion = 'flowing';
    } else if (this.congestion === 'flowing') {
      this.congestion = 'backed-up';
      this.backedUpSince = now;
    }
    if (this.congestion === 'backed-up' && this.congestionLimitMs !== null && now - this.backedUpSince > this.congestionLimitMs) {
      this.congestion = 'dropping';
    }
    if (this.congestion !== 'dropping') return 'sent';
    this.mediaDropped += 1;
    return 'dropped';
  }

  /** The caller begins the close handshake. */
  close(code: number, reason: string): void {
    if (this.current === 'closed' || !this.socket) return;
    this.closedByCaller = true;
    this.socket.close(code, reason);
  }

  /** Gives up a dial that has not opened yet, saying why. */
  abandonDial(why: string): void {
    this.connectError ??= why;
    this.closedByCaller = true;
    this.socket?.terminate();
  }

  terminate(): void {
    this.socket?.terminate();
  }

  private markClosed(code: number | null, reason: string): void {
    if (this.current === 'closed') return;
    this.current = 'closed';
    this.closedAt = performance.now();
    this.closeCode = code;
    // The server chose it: kept printable, so no report or terminal shows it raw.
    this.closeReason = printable(reason);
    this.handlers.onClosed();
    this.resolveClosed();
  }
}
