// Where the fake Twilio dials a <Stream url>, and what it signs. Twilio's rules ("TwiML Voice:
// <Stream>"): a relative or absolute URL, wss:// only (error 31922), no query string (pass values
// as <Parameter>s). callsim's one exception is a loopback host: a wss:// URL there is dialled as
// ws://, callsim playing the TLS-terminating proxy (ngrok and the like) a local server sits
// behind, and the upgrade is signed for the wss:// URL Twilio would have dialled; a ws:// URL
// there is accepted with a warning, so a local server can be gated at all.

export type StreamTarget =
  | {
      ok: true;
      /** The absolute URL the TwiML names (a relative one resolved against the webhook's URL). */
      url: string;
      /** What the fake dials. */
      dialUrl: string;
      /** The URL X-Twilio-Signature is computed over. */
      signUrl: string;
      /** A warning for the report: the URL is accepted here but Twilio would refuse it. */
      warning: string | null;
    }
  | { ok: false; code: number; message: string };

/** 127.0.0.0/8, ::1 and localhost: the hosts a TLS-terminating proxy on this machine serves. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

const HAS_SCHEME = /^[a-z][a-z0-9+.-]*:/i;

/** A URL as quoted in one report line. */
function shown(url: string): string {
  return url.length > 200 ? `${url.slice(0, 200)}…` : url;
}

/** The stream a TwiML `url` attribute names, resolved against `base` (the webhook's URL) when relative. */
export function streamTarget(written: string, base: string | null): StreamTarget {
  let url: URL;
  try {
    if (HAS_SCHEME.test(written)) {
      url = new URL(written);
    } else {
      if (base === null) return { ok: false, code: 31923, message: `the stream URL "${shown(written)}" is relative and there is no webhook URL to resolve it against (error 31923: Stream - WebSocket - Malformed URL)` };
      url = new URL(written, base);
      // A relative URL keeps the webhook's security: https -> wss, http -> ws.
      url.protocol = url.protocol === 'https:' ? 'wss:' : url.protocol === 'http:' ? 'ws:' : url.protocol;
    }
  } catch {
    return { ok: false, code: 31923, message: `the stream URL "${shown(written)}" is not a valid URL (error 31923: Stream - WebSocket - Malformed URL)` };
  }
  const absolute = url.toString();
  if (url.search !== '') {
    return { ok: false, code: 31920, message: `the stream URL ${shown(absolute)} has a query string, which <Stream url> does not support: pass values as <Parameter>s (TwiML <Stream>; the stream is not opened, error 31920)` };
  }
  const loopback = isLoopbackHost(url.hostname);
  if (url.protocol === 'wss:') {
    if (!loopback) return { ok: true, url: absolute, dialUrl: absolute, signUrl: absolute, warning: null };
    const plain = new URL(absolute);
    plain.protocol = 'ws:';
    return { ok: true, url: absolute, dialUrl: plain.toString(), signUrl: absolute, warning: null };
  }
  if (url.protocol === 'ws:' && loopback) {
    return {
      ok: true,
      url: absolute,
      dialUrl: absolute,
      signUrl: absolute,
      warning: `the stream URL ${shown(absolute)} is ws://: Twilio refuses anything but wss:// (error 31922); accepted here only because the host is loopback`,
    };
  }
  return { ok: false, code: 31922, message: `the stream URL ${shown(absolute)} is not wss:// (error 31922: Stream - WebSocket - URL Schema Not Supported)` };
}
