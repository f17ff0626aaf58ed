// The voice webhook's TwiML, both ways: the <Connect><Stream> document callsim serve answers with,
// and the reader the fake Twilio runs on whatever a server answers. Reading is fast-xml-parser's
// (well-formedness and entities); Twilio's rules sit on top: the size limit, the <Response> root,
// verbs executed in order, and what <Connect>/<Start><Stream> accept. References: TwiML "Voice:
// <Stream>", "Voice: <Connect>", "Voice: <Start>" and errors 11750, 12100, 12102, 31941.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { escapeXml } from '../text/xml.js';
import type { CallDirection } from './messages.js';

export function connectStreamTwiml(streamUrl: string, direction: CallDirection, parameters: Record<string, string> = {}): string {
  const params = { direction, ...parameters };
  const paramLines = Object.entries(params)
    .map(([name, value]) => `      <Parameter name="${escapeXml(name)}" value="${escapeXml(value)}"/>`)
    .join('\n');
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<Response>',
    '  <Connect>',
    `    <Stream url="${escapeXml(streamUrl)}">`,
    paramLines,
    '    </Stream>',
    '  </Connect>',
    '</Response>',
    '',
  ].join('\n');
}

/** Twilio's `Direction` webhook parameter is inbound, outbound-api or outbound-dial. */
export function directionFromTwilio(value: string | null | undefined): CallDirection {
  return value !== null && value !== undefined && value.startsWith('outbound') ? 'outbound' : 'inbound';
}

// ---- reading ----------------------------------------------------------------------------------

/** Twilio reads at most 64 kB of a TwiML response (error 11750). */
export const TWIML_MAX_BYTES = 64 * 1024;

/** <Stream track>: which audio a stream carries. <Connect> takes only inbound_track. */
export type StreamTrack = 'inbound_track' | 'outbound_track' | 'both_tracks';
export const STREAM_TRACKS: readonly StreamTrack[] = ['inbound_track', 'outbound_track', 'both_tracks'];

/** <Connect><Stream> is a bidirectional stream; <Start><Stream> a unidirectional fork. */
export type StreamVerb = 'Connect' | 'Start';

export interface TwimlStream {
  verb: StreamVerb;
  /** The url attribute as written (relative or absolute). */
  url: string;
  name: string | null;
  track: StreamTrack;
  /** The <Parameter>s, in order; Twilio sends exactly these as start.customParameters. */
  parameters: Record<string, string>;
}

/** A verb as the report shows it: its name and what it says or plays. */
export interface TwimlVerb {
  verb: string;
  detail: string | null;
}

/** A Twilio error the document causes, with Twilio's code. */
export interface TwimlError {
  code: number;
  message: string;
}

/** What Twilio does with a TwiML document, as far as callsim follows it. */
export type TwimlCallPlan =
  /** The verbs before it run, then the stream; `after` runs once a <Connect> stream ends, or while a fork streams. */
  | { kind: 'stream'; stream: TwimlStream; before: TwimlVerb[]; after: TwimlVerb[] }
  /** The call ends (or goes where callsim does not follow) without a stream. */
  | { kind: 'no-stream'; ending: 'hangup' | 'reject' | 'end-of-document' | 'not-followed'; verbs: TwimlVerb[]; detail: string }
  | { kind: 'error'; error: TwimlError };

type XmlNode = Record<string, unknown>;

/** A name or value from the document, cut short enough to quote in one report line. */
function short(text: string, max = 120): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  ignoreDeclaration: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

/** Verbs that only make the caller hear something (or wait) before Twilio goes on. */
const PASS_THROUGH_VERBS = new Set(['Say', 'Play', 'Pause']);
/** TwiML verbs that take the call somewhere callsim does not follow. */
const NOT_FOLLOWED_VERBS = new Set(['Dial', 'Gather', 'Record', 'Redirect', 'Enqueue', 'Leave', 'Pay', 'Refer', 'Stop', 'Sms', 'Echo', 'Queue']);

function tagOf(node: XmlNode): string | null {
  for (const key of Object.keys(node)) if (key !== ':@' && key !== '#text') return key;
  return null;
}

function childrenOf(node: XmlNode, tag: string): XmlNode[] {
  const value = node[tag];
  return Array.isArray(value) ? (value as XmlNode[]) : [];
}

function attributesOf(node: XmlNode): Record<string, string> {
  const attrs = node[':@'];
  if (typeof attrs !== 'object' || attrs === null) return {};
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(attrs as Record<string, unknown>)) if (typeof value === 'string') out[name] = value;
  return out;
}

function textOf(node: XmlNode, tag: string): string {
  return childrenOf(node, tag)
    .map((child) => (typeof child['#text'] === 'string' ? child['#text'] : ''))
    .join('')
    .trim();
}

function elements(nodes: XmlNode[]): Array<{ tag: string; node: XmlNode }> {
  const out: Array<{ tag: string; node: XmlNode }> = [];
  for (const node of nodes) {
    const tag = tagOf(node);
    if (tag !== null) out.push({ tag, node });
  }
  return out;
}

function describeVerb(tag: string, node: XmlNode): TwimlVerb {
  const attrs = attributesOf(node);
  switch (tag) {
    case 'Say':
    case 'Play':
      return { verb: tag, detail: short(textOf(node, tag)) || null };
    case 'Pause':
      return { verb: tag, detail: `${short(attrs.length ?? '1')} s` };
    case 'Reject':
      return { verb: tag, detail: short(attrs.reason ?? 'rejected') };
    default:
      return { verb: short(tag), detail: null };
  }
}

function readStream(verb: StreamVerb, node: XmlNode): TwimlStream | TwimlError {
  const attrs = attributesOf(node);
  const url = attrs.url?.trim() ?? '';
  if (url === '') return { code: 31923, message: `<${verb}><Stream> has no url attribute (error 31923: Stream - WebSocket - Malformed URL)` };
  const track = (attrs.track ?? 'inbound_track') as StreamTrack;
  if (!STREAM_TRACKS.includes(track) || (verb === 'Connect' && track !== 'inbound_track')) {
    const allowed = verb === 'Connect' ? 'only "inbound_track"' : '"inbound_track", "outbound_track" or "both_tracks"';
    return { code: 31941, message: `<${verb}><Stream track="${short(attrs.track ?? '')}">: ${verb} takes ${allowed} (error 31941: Stream - Invalid Track configuration)` };
  }
  const parameters: Record<string, string> = {};
  for (const { tag, node: child } of elements(childrenOf(node, 'Stream'))) {
    if (tag !== 'Parameter') continue;
    const param = attributesOf(child);
    if (param.name !== undefined) parameters[param.name] = param.value ?? '';
  }
  return { verb, url, name: attrs.name ?? null, track, parameters };
}

/**
 * Reads a TwiML document the way Twilio executes it, verb by verb, up to the first <Stream>
 * (callsim dials one stream per call) or to whatever ends the call first. Never throws.
 */
export function readTwiml(body: string): TwimlCallPlan {
  if (Buffer.byteLength(body, 'utf8') > TWIML_MAX_BYTES) {
    return { kind: 'error', error: { code: 11750, message: `the TwiML response is ${Buffer.byteLength(body, 'utf8')} bytes; Twilio reads at most 64 kB (error 11750)` } };
  }
  // Entity definitions are where XML bombs live; TwiML has no use for a DOCTYPE.
  if (/<!DOCTYPE/i.test(body)) return { kind: 'error', error: { code: 12100, message: 'the TwiML has a DOCTYPE, which callsim does not expand (treated as error 12100: Document parse failure)' } };
  const valid = XMLValidator.validate(body);
  if (valid !== true) {
    return { kind: 'error', error: { code: 12100, message: `the TwiML is not well-formed XML: ${valid.err.msg} (line ${valid.err.line}, column ${valid.err.col}; error 12100: Document parse failure)` } };
  }
  const roots = elements(parser.parse(body) as XmlNode[]);
  const root = roots[0];
  if (root === undefined) return { kind: 'error', error: { code: 12100, message: 'the TwiML response is empty (error 12100: Document parse failure)' } };
  if (root.tag !== 'Response') return { kind: 'error', error: { code: 12102, message: `the TwiML root element is <${short(root.tag)}>, not <Response> (error 12102)` } };

  const verbs = elements(childrenOf(root.node, 'Response'));
  const before: TwimlVerb[] = [];
  for (let i = 0; i < verbs.length; i += 1) {
    const { tag, node } = verbs[i]!;
    const rest = (): TwimlVerb[] => verbs.slice(i + 1).map((v) => describeVerb(v.tag, v.node));
    if (PASS_THROUGH_VERBS.has(tag)) {
      before.push(describeVerb(tag, node));
      continue;
    }
    if (tag === 'Connect' || tag === 'Start') {
      const stream = elements(childrenOf(node, tag)).find((child) => child.tag === 'Stream');
      if (stream === undefined) {
        const inside = short(elements(childrenOf(node, tag)).map((child) => `<${child.tag}>`).join(', ')) || 'nothing';
        if (tag === 'Start') {
          before.push({ verb: 'Start', detail: inside });
          continue;
        }
        return { kind: 'no-stream', ending: 'not-followed', verbs: [...before, { verb: tag, detail: inside }], detail: `<Connect> holds ${inside}, not a <Stream>: callsim does not follow it` };
      }
      const read = readStream(tag, stream.node);
      if ('code' in read) return { kind: 'error', error: read };
      return { kind: 'stream', stream: read, before, after: rest() };
    }
    if (tag === 'Hangup') return { kind: 'no-stream', ending: 'hangup', verbs: [...before, describeVerb(tag, node)], detail: 'the TwiML hangs up (<Hangup>) before any <Stream>' };
    if (tag === 'Reject') {
      const verb = describeVerb(tag, node);
      return { kind: 'no-stream', ending: 'reject', verbs: [...before, verb], detail: `the TwiML rejects the call (<Reject reason="${verb.detail ?? 'rejected'}">)` };
    }
    const known = NOT_FOLLOWED_VERBS.has(tag);
    return {
      kind: 'no-stream',
      ending: 'not-followed',
      verbs: [...before, describeVerb(tag, node)],
      detail: known ? `the TwiML reaches <${tag}> before any <Stream>, and callsim does not follow <${tag}>` : `<${short(tag)}> is not a TwiML voice verb (TwiML is case-sensitive): the call never reaches a <Stream>`,
    };
  }
  return { kind: 'no-stream', ending: 'end-of-document', verbs: before, detail: before.length === 0 ? 'the TwiML is an empty <Response>: Twilio hangs up' : 'the TwiML ends without a <Stream>: Twilio hangs up after it' };
}
