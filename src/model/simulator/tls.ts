// The simulator's TLS identity: a CA made at start (selfsigned, P-256) and a server certificate
// it signs for 127.0.0.1, ::1 and localhost. The CA's PEM is written to a temp file so a child
// process can trust it (NODE_EXTRA_CA_CERTS for Node, SSL_CERT_FILE for Python/OpenSSL). Made
// once per process and shared by the simulators running in it; the file goes when the last of
// them closes (or the process exits).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsIdentity {
  key: string;
  cert: string;
  caPem: string;
  caPath: string;
  remove(): void;
}

let identity: Promise<TlsIdentity> | null = null;

async function makeIdentity(): Promise<TlsIdentity> {
  // Loaded on first use: its certificate stack costs a few MB of heap a plain-only process never needs.
  const { generate } = await import('selfsigned');
  const validFor = { notBeforeDate: new Date(Date.now() - 60_000), notAfterDate: new Date(Date.now() + 30 * 24 * 3600_000) };
  const ca = await generate([{ name: 'commonName', value: 'callsim simulator CA' }], {
    keyType: 'ec', algorithm: 'sha256', ...validFor,
    extensions: [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true }],
  });
  const leaf = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec', algorithm: 'sha256', ...validFor, ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  const dir = mkdtempSync(join(tmpdir(), 'callsim-simulator-'));
  const caPath = join(dir, 'ca.pem');
  writeFileSync(caPath, ca.cert);
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  return { key: leaf.private, cert: leaf.cert, caPem: ca.cert, caPath, remove: () => {
    process.removeListener('exit', remove);
    remove();
  } };
}

let users = 0;

/** The shared identity; each caller releases it once (releaseTlsIdentity) when its server closes. */
export async function acquireTlsIdentity(): Promise<TlsIdentity> {
  users += 1;
  identity ??= makeIdentity().catch((err: unknown) => {
    identity = null;
    throw err;
  });
  try {
    return await identity;
  } catch (err) {
    users -= 1;
    throw err;
  }
}

export function releaseTlsIdentity(): void {
  users -= 1;
  if (users > 0 || identity === null) return;
  const current = identity;
  identity = null;
  void current.then((id) => id.remove(), () => undefined);
}
