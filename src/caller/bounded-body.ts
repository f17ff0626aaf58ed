// An HTTP answer's body read to a limit: what a peer sends past it is never read, so a body that
// never ends costs the caller the limit, not its memory (the webhook's TwiML, a /calls snapshot).

/** Reads at most `limit` bytes of the body; null when it is longer. */
export async function readLimited(response: Response, limit: number): Promise<string | null> {
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
