// The server under test: the built-in one in-process, a running one at a URL, or any process
// (any language) started from a command line, watched until it is ready and stopped afterwards.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { sleep } from '../caller/clock.js';
import { createLogger, redactSecrets } from '../log.js';
import { redactCommand } from '../text/redact.js';
import type { RunningSimulator } from '../model/simulator/simulator.js';
import type { RunningMediaServer } from '../server/media-server.js';
import { printable } from '../text/printable.js';
import { LogCollector } from './crash-scan.js';

export type TargetSpec =
  | { kind: 'builtin' }
  | { kind: 'url'; url: string }
  | { kind: 'command'; command: string; wsPath: string; readyTimeoutMs: number; env?: Readonly<Record<string, string>> };

export interface GateTarget {
  /** What to print: "built-in callsim serve", the URL, or the command with its secrets redacted. */
  label: string;
  wsUrl: string;
  logs: LogCollector;
  /** A line of its output as it may be shown: the secrets it was given scrubbed. */
  redact(text: string): string;
  /** Set when the server process is gone: "exited with code 1", "killed by SIGSEGV". */
  exit(): string | null;
  /** Epoch ms it went, or null. */
  exitedAt(): number | null;
  /** A server command's process (the leader of its own process group); null for the built-in server and a URL. */
  pid: number | null;
  /**
   * The built-in server's embedded simulator, whose session records the gate reads (the witness,
   * a scenario's response split); absent for the others, whose model the witness watches.
   */
  simulator?: RunningSimulator | null;
  stop(): Promise<TargetStopReport>;
}

/** What stopping a server command found: what it left behind, and whether its port is free again. */
export interface TargetStopReport {
  /** Processes it started that had left its process group (a daemon, a setsid child), stopped by their run token. */
  strays: number;
  /** Its port still accepted connections after everything it started was stopped. */
  portInUse: boolean;
}

const NOTHING_LEFT: TargetStopReport = { strays: 0, portInUse: false };

export class TargetError extends Error {
  override readonly name = 'TargetError';
  constructor(
    message: string,
    readonly output: string[] = [],
  ) {
    super(message);
  }
}

/** How the reports name a target: the URL, the built-in server, or the command with its secrets redacted. */
export function targetLabel(spec: TargetSpec): string {
  switch (spec.kind) {
    case 'builtin':
      return BUILTIN_LABEL;
    case 'url':
      return spec.url;
    case 'command':
      return redactSecrets(redactCommand(spec.command).text, inheritedSecrets());
  }
}

const BUILTIN_LABEL = 'built-in callsim serve (embedded realtime simulator)';

/** Secrets a server command inherits from our environment, which its output must not show. */
function inheritedSecrets(): string[] {
  return [process.env.OPENAI_API_KEY ?? '', process.env.TWILIO_AUTH_TOKEN ?? ''];
}

/**
 * Starts or reaches the server. With a `signal`, the caller owns SIGINT/SIGTERM and aborts it
 * to stop a server command still starting (a TargetError); without one, a signal stops the
 * server command's processes and exits, so Ctrl-C never orphans them.
 */
export async function startTarget(spec: TargetSpec, signal?: AbortSignal): Promise<GateTarget> {
  switch (spec.kind) {
    case 'builtin':
      return startBuiltin();
    case 'url':
      return {
        label: spec.url,
        wsUrl: spec.url,
        logs: new LogCollector(),
        redact: (text) => text,
        exit: () => null,
        exitedAt: () => null,
        pid: null,
        stop: async () => NOTHING_LEFT,
      };
    case 'command':
      return startCommand(spec.command, spec.wsPath, spec.readyTimeoutMs, signal, spec.env ?? {});
  }
}

async function startBuiltin(): Promise<GateTarget> {
  const logs = new LogCollector();
  // The built-in server's own log lines go through the same crash scan as any other server's.
  const logger = createLogger({ format: 'json', level: 'info', write: (line) => logs.add('log', line) });
  // Loaded only for this target: a gate against another server never needs callsim's own.
  const { startMediaServer } = await import('../server/media-server.js');
  const server: RunningMediaServer = await startMediaServer({ port: 0, logger });
  return {
    label: BUILTIN_LABEL,
    wsUrl: server.wsUrl,
    logs,
    redact: (text) => text,
    exit: () => null,
    exitedAt: () => null,
    pid: null,
    simulator: server.simulator,
    stop: async () => {
      await server.close();
      return NOTHING_LEFT;
    },
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
 * replaced), and `extraEnv` (the model the gate hands it) over our own environment. It is ready when it prints a ws:// or http:// URL on loopback, or when something
 * accepts connections on the port we gave it, whichever comes first.
 */
async function startCommand(command: string, wsPath: string, readyTimeoutMs: number, signal: AbortSignal | undefined, extraEnv: Readonly<Record<string, string>>): Promise<GateTarget> {
  const port = await freePort();
  // What is echoed of the command, and what its output is scrubbed of: an inline OPENAI_API_KEY=…
  // and the secrets it inherits from our environment.
  const redacted = redactCommand(command);
  const secrets = [...redacted.values, ...inheritedSecrets()];
  const label = redactSecrets(redacted.text, secrets);
  const redact = (text: string): string => redactSecrets(text, secrets);
  const logs = new LogCollector();
  // Every process the command starts inherits this: one that leaves the process group (a daemon,
  // `setsid`, a double fork) is still found by it when the gate stops the server.
  const runToken = `${RUN_TOKEN_VAR}=${randomBytes(12).toString('hex')}`;
  const child: ChildProcess = spawn(command.replaceAll('{port}', String(port)), {
    shell: true,
    env: { ...process.env, ...extraEnv, PORT: String(port), [RUN_TOKEN_VAR]: runToken.slice(RUN_TOKEN_VAR.length + 1) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: process.platform !== 'win32',
  });
  let exitStatus: string | null = null;
  let exitedAt: number | null = null;
  let announced: string | null = null;
  // Whole lines only: a URL split across two chunks must still be seen.
  logs.onLine((line) => {
    if (announced === null && line.stream !== 'log') announced = announcedUrl(line.text, wsPath, port);
  });
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => logs.write('stdout', chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => logs.write('stderr', chunk));
  // Ctrl-C or a cancelled CI job must not orphan the server (it has its own process group).
  const onSignal = (signal: NodeJS.Signals): void => {
    void killTree(child, exited, runToken).then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  // The whole group, even when the shell itself has exited: a server it started may not have.
  const killNow = (): void => {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  };
  if (signal === undefined) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  process.once('exit', killNow);
  const release = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('exit', killNow);
  };
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
      // The shell is gone; something it started in the background may still be running.
      await killTree(child, exited, runToken);
      release();
      throw new TargetError(`server command ${exitStatus} before it was ready: ${label}`, logs.lines.map((l) => printable(redact(l.text))));
    }
    if (signal?.aborted === true) {
      await killTree(child, exited, runToken);
      release();
      throw new TargetError(`interrupted while the server command was starting: ${label}`, logs.lines.map((l) => printable(redact(l.text))));
    }
    // A printed URL says where; a connection accepted there says it is ready.
    const candidate: string = announced ?? `ws://127.0.0.1:${port}${wsPath}`;
    if (await accepts(Number(new URL(candidate).port) || port)) wsUrl = candidate;
    else if (Date.now() > deadline) {
      await killTree(child, exited, runToken);
      release();
      throw new TargetError(`server command not ready after ${readyTimeoutMs} ms (nothing accepting on ${new URL(candidate).host}): ${label}`, logs.lines.map((l) => printable(redact(l.text))));
    } else await sleep(100, signal);
  }

  return {
    label,
    wsUrl,
    logs,
    redact,
    exit: () => exitStatus,
    exitedAt: () => exitedAt,
    pid: child.pid ?? null,
    stop: async () => {
      // Even when the shell has exited: a server it started may still be running in its group.
      const strays = await killTree(child, exited, runToken);
      release();
      logs.end();
      const servedPort = Number(new URL(wsUrl).port) || port;
      return { strays, portInUse: await accepts(servedPort) };
    },
  };
}

/**
 * The stream URL a server announces: a ws:// URL, or an http:// one on the port we gave it or on
 * a "listening" line (a log line about some other service on loopback is not an announcement).
 */
function announcedUrl(text: string, wsPath: string, givenPort: number): string | null {
  const match = ANNOUNCED_URL.exec(text);
  if (!match) return null;
  const [, scheme, host, port, path] = match;
  if (!scheme?.startsWith('ws') && Number(port) !== givenPort && !/listen|serving|running|started/i.test(text)) return null;
  const wsScheme = scheme === 'https' || scheme === 'wss' ? 'wss' : 'ws';
  const loopback = host === '0.0.0.0' || host === 'localhost' ? '127.0.0.1' : host;
  // An http:// banner names the server, not the stream path: add ours.
  const streamPath = scheme?.startsWith('ws') && path ? path : wsPath;
  return `${wsScheme}://${loopback}:${port}${streamPath}`;
}

/**
 * Ready = answers an HTTP request (any status: a Media Streams server may 404 or 426 it). A plain
 * HTTP request, not a bare connect-and-drop, which some servers would log as an error of their own.
 */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', timeout: 1000, headers: { connection: 'close' } }, (res) => {
      res.resume();
      resolve(true);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(false));
  });
}

const KILL_AFTER_MS = 3000;
const RUN_TOKEN_VAR = 'CALLSIM_GATE_RUN';

/**
 * SIGTERM the whole process group (the shell and the server it started), SIGKILL after 3 s. The
 * group is signalled whether or not the shell is still there, and waited for as a whole. Then
 * the processes that left the group but carry the run token in their environment get the same.
 * Returns how many of those strays there were.
 */
async function killTree(child: ChildProcess, exited: Promise<void>, runToken: string): Promise<number> {
  const group = child.pid !== undefined && process.platform !== 'win32' ? child.pid : null;
  const signal = (sig: NodeJS.Signals | 0): boolean => {
    try {
      if (group !== null) process.kill(-group, sig);
      else child.kill(sig);
      return true;
    } catch {
      return false; // Already gone (ESRCH).
    }
  };
  const groupAlive = (): boolean => group !== null && signal(0) && groupRunning(group);
  const deadline = Date.now() + KILL_AFTER_MS;
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), KILL_AFTER_MS);
  await exited;
  while (groupAlive() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  clearTimeout(timer);
  if (groupAlive()) signal('SIGKILL');
  return killStrays(runToken);
}

/** Stops every process (outside our group, all of it gone now) whose environment holds `runToken`. */
async function killStrays(runToken: string): Promise<number> {
  const strays = processesWithEnv(runToken);
  if (strays.length === 0) return 0;
  const send = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // Gone meanwhile.
    }
  };
  for (const pid of strays) send(pid, 'SIGTERM');
  const deadline = Date.now() + KILL_AFTER_MS;
  while (processesWithEnv(runToken).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  for (const pid of processesWithEnv(runToken)) send(pid, 'SIGKILL');
  return strays.length;
}

/** Live (not zombie) processes whose environment holds `entry` ("NAME=value"); Linux /proc only. */
function processesWithEnv(entry: string): number[] {
  if (process.platform !== 'linux') return [];
  const found: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  for (const name of names) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'latin1');
      if (!environ.split('\0').includes(entry)) continue;
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && state !== 'X') found.push(Number(name));
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/**
 * Whether a process of `group` (which signal 0 reached) still runs. Zombies do not count: they run
 * nothing and wait only for a reaper, which in a container (a PID 1 that seldom or never reaps) may
 * take seconds or never come. Without a Linux /proc, the signal's answer stands.
 */
function groupRunning(group: number): boolean {
  if (process.platform !== 'linux') return true;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // Gone meanwhile.
    }
    // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === group && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}
