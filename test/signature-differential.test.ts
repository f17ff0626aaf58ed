// callsim's X-Twilio-Signature against the official `twilio` package, both ways: what callsim's
// fake Twilio signs, twilio.validateRequest accepts; what twilio signs, callsim serve's validator
// accepts; and a tampered request is refused by both. Ports, repeated parameters, unicode, wss
// with a custom port, GET query strings and JSON bodies (bodySHA256).
import twilio from 'twilio';
import { describe, expect, it } from 'vitest';
import { computeTwilioSignature, formParams, signTwilioRequest, validateTwilioSignature, withBodySha256, type SignatureParams } from '../src/twilio/signature.js';

const TOKEN = '12345678901234567890123456789012';

interface FormCase {
  name: string;
  url: string;
  params: Record<string, string | string[]>;
}

const FORM_CASES: FormCase[] = [
  { name: 'https, no port, voice webhook parameters', url: 'https://agent.example.com/incoming-call', params: { AccountSid: 'AC0', CallSid: 'CA1', Direction: 'inbound', From: '+14155550100', To: '+14155550199' } },
  { name: 'https with the default port written out', url: 'https://agent.example.com:443/incoming-call', params: { CallSid: 'CA1', Direction: 'outbound-api' } },
  { name: 'https with a custom port', url: 'https://agent.example.com:8443/twiml', params: { CallSid: 'CA1' } },
  { name: 'http on loopback with a port', url: 'http://127.0.0.1:5050/twiml', params: { CallSid: 'CA1', CallStatus: 'ringing' } },
  { name: 'http with the default port written out', url: 'http://agent.example.com:80/twiml', params: { CallSid: 'CA1' } },
  { name: 'no parameters at all', url: 'https://agent.example.com/twiml', params: {} },
  { name: 'a repeated parameter', url: 'https://agent.example.com/twiml', params: { Digits: ['3', '1', '2'], CallSid: 'CA1' } },
  { name: 'a repeated parameter with a duplicate value', url: 'https://agent.example.com/twiml', params: { Tag: ['b', 'a', 'b'] } },
  { name: 'unicode values and names', url: 'https://agent.example.com/twiml', params: { CallerName: 'Zoë Ångström 日本', 'Näme': 'ü', Emoji: '📞' } },
  { name: 'values with & = + and spaces', url: 'https://agent.example.com/twiml', params: { SpeechResult: 'a=b & c+d', Body: '  spaced  ' } },
  { name: 'names whose order is by code unit (upper before lower)', url: 'https://agent.example.com/twiml', params: { b: '1', B: '2', a: '3', A: '4', _x: '5' } },
  { name: 'an empty value', url: 'https://agent.example.com/twiml', params: { Empty: '', CallSid: 'CA1' } },
  { name: 'a query string in the webhook URL', url: 'https://agent.example.com/twiml?tenant=acme&lang=en', params: { CallSid: 'CA1' } },
  { name: 'a path with escapes', url: 'https://agent.example.com/voice%20hooks/twiml', params: { CallSid: 'CA1' } },
  { name: 'an IPv6 loopback host with a port', url: 'http://[::1]:5050/twiml', params: { CallSid: 'CA1' } },
];

interface UrlCase {
  name: string;
  url: string;
}

/** Signed with no parameters: a stream's WebSocket upgrade, or a GET webhook. */
const URL_CASES: UrlCase[] = [
  { name: 'wss stream URL', url: 'wss://agent.example.com/media' },
  { name: 'wss with a custom port', url: 'wss://agent.example.com:8443/media-stream' },
  { name: 'wss on loopback with a port (the proxy case)', url: 'wss://127.0.0.1:5050/media-stream' },
  { name: 'wss with a path prefix', url: 'wss://agent.example.com/tenant/42/media' },
  { name: 'GET webhook with the parameters in the query', url: 'https://agent.example.com/twiml?CallSid=CA1&Direction=outbound-api&From=%2B14155550100' },
  { name: 'GET webhook with a unicode query value', url: 'https://agent.example.com/twiml?CallerName=Zo%C3%AB' },
];

const JSON_BODIES = [
  { name: 'a JSON body', url: 'https://agent.example.com/events', body: JSON.stringify({ CallSid: 'CA1', Direction: 'inbound' }) },
  { name: 'a unicode JSON body on a custom port', url: 'https://agent.example.com:8443/events?source=stream', body: JSON.stringify({ name: 'Zoë 📞', n: [1, 2, 3] }) },
];

/** twilio-node takes a repeated form field as an array, as body parsers give it. */
function forTwilio(params: Record<string, string | string[]>): Record<string, string | string[]> {
  return params;
}

describe('X-Twilio-Signature: callsim and the official twilio package agree', () => {
  it(`has at least 20 cases`, () => {
    expect(FORM_CASES.length + URL_CASES.length + JSON_BODIES.length).toBeGreaterThanOrEqual(20);
  });

  describe.each(FORM_CASES)('form POST: $name', ({ url, params }) => {
    it('callsim signs, twilio.validateRequest accepts; a tampered value is refused', () => {
      const { signature } = signTwilioRequest(TOKEN, url, { form: params });
      expect(twilio.validateRequest(TOKEN, signature, url, forTwilio(params))).toBe(true);
      expect(twilio.validateRequest(TOKEN, signature, url, { ...forTwilio(params), Injected: 'x' })).toBe(false);
      expect(twilio.validateRequest('0'.repeat(32), signature, url, forTwilio(params))).toBe(false);
    });

    it('twilio signs, callsim validates (from the form body too); a tampered URL is refused', () => {
      const signature = twilio.getExpectedTwilioSignature(TOKEN, url, forTwilio(params));
      expect(computeTwilioSignature(TOKEN, url, params)).toBe(signature);
      expect(validateTwilioSignature(TOKEN, signature, url, params)).toBe(true);
      const pairs: Array<[string, string]> = Object.entries(params).flatMap(([name, value]) => (Array.isArray(value) ? value.map((v): [string, string] => [name, v]) : [[name, value] as [string, string]]));
      const body = new URLSearchParams(pairs).toString();
      expect(validateTwilioSignature(TOKEN, signature, url, formParams(body))).toBe(true);
      expect(validateTwilioSignature(TOKEN, signature, url.replace('/twiml', '/other').replace('/incoming-call', '/other'), params)).toBe(false);
    });
  });

  describe.each(URL_CASES)('URL only: $name', ({ url }) => {
    it('both ways, and the other scheme or host is refused', () => {
      const ours = signTwilioRequest(TOKEN, url).signature;
      expect(twilio.validateRequest(TOKEN, ours, url, {})).toBe(true);
      const theirs = twilio.getExpectedTwilioSignature(TOKEN, url, {});
      expect(validateTwilioSignature(TOKEN, theirs, url)).toBe(true);
      expect(ours).toBe(theirs);
      const otherScheme = url.startsWith('wss:') ? url.replace('wss:', 'ws:') : url.replace('https:', 'http:');
      expect(validateTwilioSignature(TOKEN, ours, otherScheme)).toBe(false);
      expect(twilio.validateRequest(TOKEN, ours, url.replace('agent.example.com', 'evil.example.com').replace('127.0.0.1', '127.0.0.2'), {})).toBe(false);
    });
  });

  describe.each(JSON_BODIES)('JSON: $name', ({ url, body }) => {
    it('bodySHA256 in the URL, the URL signed alone; both validators take the other\'s; a changed body is refused', () => {
      const signed = signTwilioRequest(TOKEN, url, { json: body });
      expect(signed.url).toBe(withBodySha256(url, body));
      expect(signed.url).toContain(`bodySHA256=${twilio.getExpectedBodyHash(body)}`);
      expect(twilio.validateRequestWithBody(TOKEN, signed.signature, signed.url, body)).toBe(true);
      expect(twilio.validateRequestWithBody(TOKEN, signed.signature, signed.url, `${body} `)).toBe(false);
      const theirs = twilio.getExpectedTwilioSignature(TOKEN, signed.url, {});
      expect(validateTwilioSignature(TOKEN, theirs, signed.url, {}, body)).toBe(true);
      expect(validateTwilioSignature(TOKEN, theirs, signed.url, {}, body.replace('CA1', 'CA2').replace('Zoë', 'Zoe'))).toBe(false);
    });
  });

  it('a port written out or left off: each validator takes the other form, as Twilio signs either', () => {
    const params: SignatureParams = { CallSid: 'CA1' };
    const withPort = 'https://agent.example.com:443/twiml';
    const withoutPort = 'https://agent.example.com/twiml';
    const signedWithPort = signTwilioRequest(TOKEN, withPort, { form: params }).signature;
    expect(twilio.validateRequest(TOKEN, signedWithPort, withoutPort, { ...params })).toBe(true);
    expect(validateTwilioSignature(TOKEN, signedWithPort, withoutPort, params)).toBe(true);
    const signedWithout = twilio.getExpectedTwilioSignature(TOKEN, withoutPort, { ...params });
    expect(validateTwilioSignature(TOKEN, signedWithout, withPort, params)).toBe(true);
  });
});
