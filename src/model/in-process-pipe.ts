// Two connected in-memory stream ends: what one writes, the other reads. The server reaches its
// embedded simulator through one, so the SDK, ws framing and every event are the same as over a
// socket but no byte goes through the kernel (two syscalls and a TCP stack traversal per frame).
// Node 22 has stream.duplexPair; Node 20 does not.
import { Duplex } from 'node:stream';

type WriteCallback = (error?: Error | null) => void;

/** A chunk the peer wrote, and the peer's write callback, called once the chunk is pushed. */
interface InFlight {
  chunk: Buffer;
  written: WriteCallback;
}

class PipeEnd extends Duplex {
  peer: PipeEnd | null = null;
  // What the peer wrote that this end has not pushed to its reader yet.
  private incoming: InFlight[] = [];
  private flushScheduled = false;
  private readerWaiting = true;
  private eofPending = false;

  constructor() {
    // Like an http server's socket: when the peer ends, end our side too.
    super({ allowHalfOpen: false });
  }

  // Like TCP, delivery is never synchronous: a write returns before the reader sees it, so no
  // handler runs inside another's send.
  receive(chunk: Buffer, written: WriteCallback): void {
    this.incoming.push({ chunk, written });
    this.scheduleFlush();
  }

  receiveEof(): void {
    this.eofPending = true;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || !this.readerWaiting) return;
    this.flushScheduled = true;
    process.nextTick(this.flush);
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    // Taken off the end first: a reader may destroy this end (and settle what is queued) from
    // inside push.
    const queued = this.incoming;
    this.incoming = [];
    let i = 0;
    // A reader that stops reading (push returns false) leaves the rest, and the writer's
    // callbacks, pending: the writer's buffer then grows, as a socket's would.
    while (i < queued.length && this.readerWaiting && !this.destroyed) {
      const { chunk, written } = queued[i]!;
      this.readerWaiting = this.push(chunk);
      written();
      i += 1;
    }
    if (i < queued.length) {
      if (this.destroyed) {
        for (let j = i; j < queued.length; j++) queued[j]!.written();
        return;
      }
      this.incoming = queued.slice(i).concat(this.incoming);
    }
    if (this.incoming.length === 0 && this.eofPending && !this.destroyed) {
      this.eofPending = false;
      this.push(null);
    }
  };

  override _read(): void {
    this.readerWaiting = true;
    if (this.incoming.length > 0 || this.eofPending) this.scheduleFlush();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: WriteCallback): void {
    const peer = this.peer;
    // Written after the peer went away: gone, as on a socket whose other side closed.
    if (peer === null || peer.destroyed) callback();
    else peer.receive(chunk, callback);
  }

  // ws corks a frame's header and payload together: one chunk for the reader, as one writev.
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: WriteCallback): void {
    this._write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), 'binary', callback);
  }

  override _final(callback: WriteCallback): void {
    this.peer?.receiveEof();
    callback();
  }

  override _destroy(error: Error | null, callback: WriteCallback): void {
    const peer = this.peer;
    // The peer sees end of stream, as after a socket's close; what it still had queued for us
    // was never read.
    for (const { written } of this.incoming) written();
    this.incoming = [];
    if (peer !== null && !peer.destroyed) peer.receiveEof();
    this.peer = null;
    callback(error);
  }
}

/** Two connected ends, [client, server]. */
export function createInProcessPipe(): [Duplex, Duplex] {
  const a = new PipeEnd();
  const b = new PipeEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
