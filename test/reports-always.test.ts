// The CLI always leaves a report: when the server command exits before it is ready, is not ready
// in time, or the run is interrupted (SIGINT, SIGTERM), every requested report is written with an
// error case and the exit code says what happened. And what the CLI echoes of a --server-cmd is
// redacted in every report; its errors share one prefix and say where the help is.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { afterAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';

const ROOT = process.cwd();
const BIN = path.join(ROOT, 'bin/callsim.js');
const FIXTURE = path.join(ROOT, 'fixtures/hello-8k-mulaw.wav');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'callsim-always-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a child process; `onStderr` may signal it once it has printed what the test waits for. */
interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  onStderr?: (text: string, child: ReturnType<typeof spawn>) => void;
  /** The child, as soon as it is spawned. */
  onSpawn?: (child: ReturnType<typeof spawn>) => void;
}

function cli(args: string[], options: CliOptions = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: { ...process.env, GITHUB_ACTIONS: undefined, GITHUB_STEP_SUMMARY: undefined, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    options.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      options.onStderr?.(stderr, child);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function reportFiles(name: string): { junit: string; json: string; html: string; summary: string; args: string[] } {
  const base = path.join(tmp, name);
  const files = { junit: `${base}.xml`, json: `${base}.json`, html: `${base}.html`, summary: `${base}.md` };
  return { ...files, args: ['--junit', files.junit, '--json', files.json, '--html', files.html, '--reporter', `github=${files.summary}`, '--reporter', 'table', '--reporter', 'progress'] };
}

function schemaValid(file: string): boolean {
  return spawnSync('xmllint', ['--noout', '--schema', 'test/junit.xsd', file], { cwd: ROOT }).status === 0;
}

/** Whether `pid` still runs: a zombie waiting for a reaper (in a container, maybe forever) does not. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

describe('when the server never comes up', () => {
  it('exits before it is ready: exit 1, and every report says so, with the command redacted', async () => {
    const files = reportFiles('exits');
    const run = await cli(['gate', FIXTURE, '--server-cmd', `MY_API_KEY=s3cr3t-value node -e "console.error('cannot bind 0.0.0.0:5050'); process.exit(3)"`, ...files.args]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^callsim gate: cannot start the server: server command exited with code 3 before it was ready: MY_API_KEY=\[redacted\] node -e/m);
    expect(run.stderr).toContain('  | cannot bind 0.0.0.0:5050');
    expect(run.stdout).toMatch(/^GATE ERROR cannot start the server: server command exited with code 3/m);
    expect(schemaValid(files.junit)).toBe(true);
    expect(readFileSync(files.junit, 'utf8')).toMatch(/<error message="cannot start the server: server command exited with code 3 before it was ready: MY_API_KEY=\[redacted\] node -e [^"]*" type="run-failure"\/>\s*<system-err>cannot bind 0.0.0.0:5050<\/system-err>/);
    expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ verdict: 'error', command: 'gate', interrupted: null, target: expect.stringMatching(/^MY_API_KEY=\[redacted\] node -e/), output: ['cannot bind 0.0.0.0:5050'] });
    expect(readFileSync(files.html, 'utf8')).toContain('id="run-failure"');
    expect(readFileSync(files.summary, 'utf8')).toMatch(/^## callsim gate: could not run ❌/);
    for (const text of [run.stdout, run.stderr, ...Object.values(files).filter((f) => typeof f === 'string' && existsSync(f)).map((f) => readFileSync(f as string, 'utf8'))]) {
      expect(text).not.toContain('s3cr3t-value');
    }
  });

  it('is not ready in time: exit 1, the reports name the timeout, and the server is stopped', async () => {
    const files = reportFiles('slow');
    const pidFile = path.join(tmp, 'slow.pid');
    const run = await cli(['gate', FIXTURE, '--ready-timeout', '800', '--server-cmd', `node -e "require('fs').writeFileSync('${pidFile}', String(process.pid)); setTimeout(() => {}, 60000)"`, ...files.args]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('(its output is above; --ready-timeout gives a slow server longer)');
    expect(readFileSync(files.junit, 'utf8')).toMatch(/<error message="cannot start the server: server command not ready after 800 ms/);
    expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ verdict: 'error', error: expect.stringMatching(/not ready after 800 ms/) });
    expect(processAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });
});

describe('when the run is interrupted', () => {
  const CHATTY = 'node test/servers/chatty.mjs --port {port}';

  it('SIGINT after the first call: the call in flight hangs up, the rest are skipped, exit 130, every report written', async () => {
    const files = reportFiles('sigint');
    let sent = false;
    const run = await cli(['gate', FIXTURE, '--server-cmd', CHATTY, '--direction', 'inbound', '--timing', 'burst,realtime,early-media', '--speed', '1', '--concurrency', '1', ...files.args], {
      onStderr: (text, child) => {
        if (!sent && text.includes('[1/3]')) {
          sent = true;
          setTimeout(() => child.kill('SIGINT'), 300);
        }
      },
    });
    expect(sent).toBe(true);
    expect(run.code).toBe(130);
    expect(run.stderr).toContain('callsim gate: SIGINT: hanging up, stopping the server and writing the reports (again to quit at once)');
    expect(run.stdout).toMatch(/^not run \(SIGINT\): hello-8k-mulaw\.wav inbound early-media$/m);
    expect(run.stdout.split('\n').at(-2)).toMatch(/^GATE INTERRUPTED \(SIGINT\) 1\/2 calls passed, 1 not run, against node test\/servers\/chatty\.mjs --port \{port\} in/);
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as { interrupted: string; verdict: string; calls: Array<{ findings: Array<{ message: string }> }>; notRun: unknown[]; unattributed: Array<{ kind: string }>; strayProcesses: number };
    expect(json).toMatchObject({ interrupted: 'SIGINT', verdict: 'fail', strayProcesses: 0 });
    expect(json.calls).toHaveLength(2);
    expect(json.calls[1]?.findings.map((f) => f.message)).toContain('the caller hung up early (interrupted)');
    expect(json.notRun).toHaveLength(1);
    // The server was stopped like at the end of any run: its port is free.
    expect(json.unattributed.map((f) => f.kind)).not.toContain('server-left-running');
    expect(schemaValid(files.junit)).toBe(true);
    const xml = readFileSync(files.junit, 'utf8');
    expect(xml).toContain('<skipped message="not run: the run was interrupted (SIGINT)"/>');
    expect(xml).toContain('type="interrupted"');
    expect(readFileSync(files.html, 'utf8')).toMatch(/<span class="badge warn" id="verdict">interrupted \(SIGINT\)<\/span>/);
    expect(readFileSync(files.summary, 'utf8')).toMatch(/^## callsim gate: interrupted \(SIGINT\)/);
  });

  it('SIGTERM (a cancelled CI job) while the server starts: exit 143, the reports say so, the server is gone', async () => {
    const files = reportFiles('sigterm');
    const pidFile = path.join(tmp, 'sigterm.pid');
    let sent = false;
    const run = await cli(['gate', FIXTURE, '--server-cmd', `node -e "require('fs').writeFileSync('${pidFile}', String(process.pid)); setTimeout(() => {}, 60000)"`, ...files.args], {
      onStderr: (text, child) => {
        if (!sent && text.includes('1 fixture ×')) {
          sent = true;
          setTimeout(() => child.kill('SIGTERM'), 500);
        }
      },
    });
    expect(sent).toBe(true);
    expect(run.code).toBe(143);
    expect(JSON.parse(readFileSync(files.json, 'utf8'))).toMatchObject({ verdict: 'error', interrupted: 'SIGTERM', error: expect.stringMatching(/^cannot start the server: interrupted while the server command was starting/) });
    expect(schemaValid(files.junit)).toBe(true);
    expect(readFileSync(files.html, 'utf8')).toContain('interrupted (SIGTERM)');
    expect(processAlive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
  });

  it('replay: SIGTERM mid-call hangs up cleanly, writes its report, exits 143', async () => {
    const json = path.join(tmp, 'replay.json');
    // A server that signals the replay as soon as its call has started streaming.
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    let child: ReturnType<typeof spawn> | null = null;
    wss.on('connection', (socket) => {
      socket.on('message', (raw) => {
        const event = (JSON.parse(String(raw)) as { event: string }).event;
        if (event === 'start') setTimeout(() => child?.kill('SIGTERM'), 300);
        if (event === 'stop') socket.close(1000);
      });
    });
    try {
      const { port } = wss.address() as { port: number };
      const run = await cli(['replay', FIXTURE, '--url', `ws://127.0.0.1:${port}/media`, '--reporter', `json=${json}`], { onSpawn: (spawned) => (child = spawned) });
      expect(run.code).toBe(143);
      const report = JSON.parse(readFileSync(json, 'utf8')) as { verdict: string; call: { ending: string; stopSent: boolean }; failures: string[] };
      expect(report.verdict).toBe('fail');
      expect(report.call).toMatchObject({ ending: 'aborted', stopSent: true });
      expect(report.failures).toContain('the caller hung up early (interrupted)');
    } finally {
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    }
  });
});

describe('a --server-cmd with secrets, in every report', () => {
  it('the table, the JSON, the JUnit, the HTML and the GitHub summary and annotations show it redacted', async () => {
    const files = reportFiles('secrets');
    const token = 'tok-9f8e7d6c5b4a';
    const key = 'sk-proj-abcdef0123456789';
    const run = await cli(['gate', FIXTURE, '--timing', 'burst', '--server-cmd', `MY_SERVICE_TOKEN=${token} OPENAI_API_KEY="${key}" node test/servers/chatty.mjs --port {port}`, ...files.args]);
    expect(run.code).toBe(1); // chatty's outbound call prints a crash line quoting both
    const redacted = 'MY_SERVICE_TOKEN=[redacted] OPENAI_API_KEY=[redacted] node test/servers/chatty.mjs --port {port}';
    const reports = { table: run.stdout, annotations: run.stderr, json: readFileSync(files.json, 'utf8'), junit: readFileSync(files.junit, 'utf8'), html: readFileSync(files.html, 'utf8'), summary: readFileSync(files.summary, 'utf8') };
    for (const [name, text] of Object.entries(reports)) {
      expect(text, name).not.toContain(token);
      expect(text, name).not.toContain(key);
    }
    expect(reports.table).toContain(`against ${redacted} in`);
    expect(JSON.parse(reports.json)).toMatchObject({ target: redacted });
    expect(reports.junit).toContain(`<testsuite name="callsim gate: ${redacted}"`);
    expect(reports.html).toContain(`against <span class="mono">${redacted}</span>`);
    expect(reports.summary).toContain('against MY\\_SERVICE\\_TOKEN=\\[redacted\\] OPENAI\\_API\\_KEY=\\[redacted\\] node test/servers/chatty.mjs --port {port}');
    expect(reports.annotations).toContain('::error title=callsim gate%3A hello-8k-mulaw.wav outbound burst::crash-signature: TypeError in server stdout: TypeError: the CRM rejected token [redacted] (key [redacted])');
  });
});

describe('errors: one prefix, and where the help is', () => {
  it('usage errors from commander and from the commands alike: one line each', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['gate', '--timing', 'sometimes'], /^callsim gate: option '--timing <list>' argument 'sometimes' is invalid\. --timing: "sometimes" is not one of realtime, burst, early-media \(run "callsim gate --help" for usage\)\n$/],
      [['gate', 'fixtures/nope.wav'], /^callsim gate: fixtures\/nope\.wav: file not found \(run "callsim gate --help" for usage\)\n$/],
      [['replay'], /^callsim replay: missing required argument 'file\.wav' or --scenario FILE \(run "callsim replay --help" for usage\)\n$/],
      [['replay', '--dtmf-at', '100', FIXTURE], /^callsim replay: option '--dtmf-at <ms>' needs --dtmf <digits> \(run "callsim replay --help" for usage\)\n$/],
      [['serve', '--port', 'x'], /^callsim serve: option '-p, --port <port>' argument 'x' is invalid\. --port must be an integer from 0 to 65535, got "x" \(run "callsim serve --help" for usage\)\n$/],
      [['bogus'], /^callsim: unknown command 'bogus' \(run "callsim --help" for usage\)\n$/],
    ];
    const runs = await Promise.all(cases.map(([args]) => cli(args)));
    runs.forEach((run, i) => {
      expect(run.code, cases[i]![0].join(' ')).toBe(2);
      expect(run.stderr).toMatch(cases[i]![1]);
      expect(run.stderr).not.toMatch(/^error:/m);
    });
  });
});

describe('which fixtures, and why', () => {
  it('with none named: ./fixtures when there is one, else callsim’s own, and says which', async () => {
    const empty = path.join(tmp, 'empty-project');
    const withFixtures = path.join(tmp, 'project');
    mkdirSync(empty);
    mkdirSync(path.join(withFixtures, 'fixtures'), { recursive: true });
    copyFileSync(FIXTURE, path.join(withFixtures, 'fixtures', 'mine.wav'));
    const args = ['gate', '--timing', 'burst', '--direction', 'inbound', '--reporter', 'progress'];
    const [own, theirs] = await Promise.all([cli(args, { cwd: empty }), cli(args, { cwd: withFixtures })]);
    expect(own.code).toBe(0);
    expect(own.stderr).toContain(`callsim gate: fixtures: callsim's own 3 WAVs (${path.join(ROOT, 'fixtures')}), as there is no ./fixtures here: put yours there, or name them on the command line or in gate.fixtures\n`);
    expect(theirs.code).toBe(0);
    expect(theirs.stderr).toContain('callsim gate: fixtures: the 1 WAV in ./fixtures, the default folder (name others on the command line or in gate.fixtures)\n');
    expect(theirs.stderr).toContain('[1/1] pass mine.wav inbound burst');
  });
});
