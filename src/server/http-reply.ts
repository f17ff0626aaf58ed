// One JSON answer on an HTTP route, optionally scrubbed of secrets (a call record can quote what
// a peer sent).
import type http from 'node:http';
import { redactSecrets } from '../log.js';

export function sendJson(res: http.ServerResponse, status: number, body: unknown, scrub?: readonly string[]): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json' }).end(scrub === undefined ? json : redactSecrets(json, scrub));
}
