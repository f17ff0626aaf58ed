// The server under test: the built-in one in-process, a running one at a URL, or any process
// (any language) started from a command line, watched until it is ready and stopped afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { createLogger } from '../log.js';
import { startMediaServer, type RunningMediaServer } from '../server/media-server.js';
import { LogCollector } from './crash-scan.js';

export type TargetSpec =
  | { kind: 'builtin' }
  | { kind: 'url'; url: string }
  | { kind: 'command'; command: string; wsPath: string; readyTimeoutMs: number };

export interface GateTarget {
  /** What to print: "built-in callsim serve", the URL, or the command. */
  label: string;
  wsUrl: string;
  logs: LogCollector;
  /** Set when the server process is gone: "exited with code 1", "killed by SIGSEGV". */
  exit(): string | null;
  /** Epoch ms it went, or null. */
  exitedAt(): number | null;
  stop(): Promise<void>;
}

export class TargetError extends Error {
  override readonly name = 'TargetError';
  constructor(
    message: string,
    readonly output: string[] = [],
  ) {
    super(message);
  }
}

export async function startTarget(spec: TargetSpec): Promise<GateTarget> {
  switch (spec.kind) {
    case 'builtin':
      return startBuiltin();
    case 'url':
      return {
        label: spec.url,
        wsUrl: spec.url,
        logs: new LogCollector(),
        exit: () => null,
        exitedAt: () => null,
        stop: async () => {},
      };
    case 'command':
      return startCommand(spec.command, spec.wsPath, spec.readyTimeoutMs);
  }
}

async function startBuiltin(): Promise<GateTarget> {
  const logs = new LogCollector();
  // The built-in server's own log lines go through the same crash scan as any other server's.
  const logger = createLogger({ format: 'json', level: 'info', write: (line) => logs.add('log', line) });
  const server: RunningMediaServer = await startMediaServer({ port: 0, logger });
  return {
    label: 'built-in callsim serve (embedded realtime simulator)',
    wsUrl: server.wsUrl,
    logs,
    exit: () => null,
    exitedAt: () => null,
    stop: () => server.close(),
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

const ANNOUNCED_URL = /\b(wss?|https?):\/\/(127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1?\]):(\d+)(\/[^\s"'<>]*)?/;

/**
 * Starts `command` through the shell with PORT in its environment (and `{port}` in the command
 * replaced). It is ready when it prints a ws:// or http:// URL on loopback, or when something
 * accepts connections on the port we gave it, whichever comes first.
 */
async function startCommand(command: string, wsPath: string, readyTimeoutMs: number): Promise<GateTarget> {
  const port = await freePort();
  const logs = new LogCollector();
  const child: ChildProcess = spawn(command.replaceAll('{port}', String(port)), {
    shell: true,
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: process.platform !== 'win32',
  });
  let exitStatus: string | null = null;
  let exitedAt: number | null = null;
  let announced: string | null = null;
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    logs.write('stdout', chunk);
    if (announced === null) announced = announcedUrl(chunk, wsPath);
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    logs.write('stderr', chunk);
    if (announced === null) announced = announcedUrl(chunk, wsPath);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitStatus = signal ? `killed by ${signal}` : `exited with code ${code ?? '?'}`;
      exitedAt = Date.now();
      logs.end();
      resolve();
    });
    child.once('error', (err) => {
      exitStatus = `could not start: ${err.message}`;
      resolve();
    });
  });

  const deadline = Date.now() + readyTimeoutMs;
  let wsUrl: string | null = null;
  while (wsUrl === null) {
    if (exitStatus !== null) {
      throw new TargetError(`server command ${exitStatus} before it was ready: ${command}`, logs.lines.map((l) => l.text));
    }
    if (announced !== null) wsUrl = announced;
    else if (await accepts(port)) wsUrl = `ws://127.0.0.1:${port}${wsPath}`;
    else if (Date.now() > deadline) {
      await killTree(child, exited);
      throw new TargetError(`server command not ready after ${readyTimeoutMs} ms (no URL printed, nothing on port ${port}): ${command}`, logs.lines.map((l) => l.text));
    } else await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    label: command,
    wsUrl,
    logs,
    exit: () => exitStatus,
    exitedAt: () => exitedAt,
    stop: async () => {
      if (exitStatus === null) await killTree(child, exited);
      logs.end();
    },
  };
}

function announcedUrl(text: string, wsPath: string): string | null {
  const match = ANNOUNCED_URL.exec(text);
  if (!match) return null;
  const [, scheme, host, port, path] = match;
  const wsScheme = scheme === 'https' || scheme === 'wss' ? 'wss' : 'ws';
  const loopback = host === '0.0.0.0' || host === 'localhost' ? '127.0.0.1' : host;
  // An http:// banner names the server, not the stream path: add ours.
  const streamPath = scheme?.startsWith('ws') && path ? path : wsPath;
  return `${wsScheme}://${loopback}:${port}${streamPath}`;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** SIGTERM the whole process group (the shell and the server it started), SIGKILL after 3 s. */
async function killTree(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined && process.platform !== 'win32') process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
