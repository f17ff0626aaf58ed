// TwiML that connects a call to this server's Media Streams endpoint.
import { escapeXml } from '../text/xml.js';
import type { CallDirection } from './codec.js';

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
