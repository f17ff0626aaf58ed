// Running the model-side witness as a user would: `callsim gate` and `callsim simulator` as child
// processes of the built CLI, and planted agents started with the environment a user gives them.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GateCallResult, GateResult } from '../../src/gate/gate.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const FIXTURE = 'fixtures/hello-8k-mulaw.wav';
export const NODE_AGENT = 'node test/agents/node-agent.mjs';
export const PYTHON_AGENT = '/usr/bin/python3 test/agents/python_agent.py';
/** Where the planted agents serve their webhook and their stream. */
export const AGENT_PLACEMENT = ['--webhook-path', '/incoming-call', '--ws-path', '/media-stream'];

/** The CLI runs from dist/: a source newer than its build would test stale code. */
export function assertBuilt(): void {
  for (const folder of ['src/gate/witness', 'src/caller', 'src/cli', 'src/audio']) {
    for (const name of readdirSync(path.join(ROOT, folder)).filter((f) => f.endsWith('.ts'))) {
      const built = path.join(ROOT, 'dist', folder, name.replace(/\.ts$/, '.js'));
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(path.join(ROOT, folder, name)).mtimeMs) throw new Error(`${built} is stale: run \`npm run build\` first`);
    }
  }
}

export interface GateRun {
  code: number;
  stdout: string;
  stderr: string;
  result: GateResult;
}

/** `callsim gate ARGS --json FILE`: its exit code, what it printed (the table) and the JSON result. */
export function gateCli(args: readonly string[], timeoutMs = 90_000): Promise<GateRun> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'callsim-witness-'));
  const json = path.join(dir, 'gate.json');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['bin/callsim.js', 'gate', FIXTURE, '--reporter', 'table', '--reporter', `json=${json}`, ...args], { cwd: ROOT, timeout: timeoutMs, env: { ...process.env, NO_COLOR: '1', GITHUB_ACTIONS: '' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      try {
        const result = JSON.parse(readFileSync(json, 'utf8')) as GateResult;
        resolve({ code, stdout, stderr, result });
      } catch (readError) {
        reject(new Error(`callsim gate wrote no JSON (exit ${code}): ${stderr}\n${stdout}\n${String(readError)}`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

/** Each model-side check of a call by name: its status. */
export function modelStatuses(call: GateCallResult): Record<string, string> {
  return Object.fromEntries(call.checks.filter((c) => c.name.startsWith('model-')).map((c) => [c.name, c.status]));
}

/** A call's model-side checks that did not pass, with what they saw. */
export function modelProblems(call: GateCallResult): string[] {
  return call.checks.filter((c) => c.name.startsWith('model-') && c.status !== 'pass').map((c) => `${call.id}: ${c.name} ${c.status}: ${c.reason}`);
}

interface Running {
  child: ChildProcess;
  output: string[];
  stop(): Promise<void>;
}

function startProcess(command: string, args: readonly string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<Running & { match: RegExpMatchArray }> {
  const child = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${command} ${args.join(' ')} not ready: ${output.join('')}`));
    }, 15_000);
    const onData = (chunk: Buffer): void => {
      output.push(chunk.toString());
      const match = ready.exec(output.join(''));
      if (match) {
        clearTimeout(timer);
        resolve({ child, output, stop, match });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code} before it was ready: ${output.join('')}`));
    });
  });
}

export interface SimulatorUrls {
  baseURL: string;
  tlsBaseURL: string;
  realtimeURL: string;
  tlsRealtimeURL: string;
  caPath: string;
  sessionsURL: string;
}

/** `callsim simulator --json` in its own process: its own clock, read only over HTTP. */
export async function startSimulatorProcess(): Promise<{ urls: SimulatorUrls; stop(): Promise<void> }> {
  const running = await startProcess(process.execPath, ['bin/callsim.js', 'simulator', '--port', '0', '--tls-port', '0', '--json'], {}, /^(\{.*\})\n/m);
  return { urls: JSON.parse(running.match[1]!) as SimulatorUrls, stop: running.stop };
}

/** A planted agent on a free port, its model leg pointed at `urls` the way the README says. */
export async function startAgent(agent: string, urls: SimulatorUrls, extra: readonly string[] = []): Promise<{ wsUrl: string; stop(): Promise<void> }> {
  const [command, ...args] = agent.split(' ');
  const env = { OPENAI_API_KEY: 'sk-user-dummy', CALLSIM_REALTIME_WSS_URL: urls.tlsRealtimeURL, NODE_EXTRA_CA_CERTS: urls.caPath, SSL_CERT_FILE: urls.caPath };
  const running = await startProcess(command!, [...args, '--port', '0', ...extra], env, /listening on http:\/\/127\.0\.0\.1:(\d+)/);
  return { wsUrl: `ws://127.0.0.1:${running.match[1]}/media-stream`, stop: running.stop };
}
