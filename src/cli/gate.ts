// `callsim gate`: options, progress, reports, exit code. The matrix is gate/gate.ts, the config
// file gate/config.ts.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import chalk from 'chalk';
import { loadWavAsMulawFrames, WavInputError, type MulawAudio } from '../audio/wav.js';
import { CALL_DIRECTIONS, type CallDirection } from '../twilio/codec.js';
import { packageFile, parseIntegerOption, parsePositiveNumberOption, parseWsUrl, requireOutputFolder, UsageError } from './options.js';
import { EXIT_CHECK_FAILED, EXIT_OK, type ExitCode } from './exit-codes.js';
import { GATE_TIMINGS, runGate, type GateOptions, type GateTiming } from '../gate/gate.js';
import { formatJunit, formatTable } from '../gate/report.js';
import { TargetError, type TargetSpec } from '../gate/target.js';
import { CONFIG_FILE, GateConfigError, loadGateConfig, type GateConfig } from '../gate/config.js';

interface GateCliOptions {
  config?: string;
  direction?: CallDirection[];
  timing?: GateTiming[];
  speed?: number;
  concurrency?: number;
  url?: string;
  serverCmd?: string;
  wsPath?: string;
  readyTimeout?: number;
  timeout?: number;
  tail?: number;
  expectAudio?: boolean;
  junit?: string;
  json?: string | boolean;
}

const DEFAULTS = { speed: 1, concurrency: 4, wsPath: '/media', readyTimeoutMs: 20_000, expectAudio: true } as const;

function listOf<T extends string>(flag: string, allowed: readonly T[]): (value: string, previous: T[] | undefined) => T[] {
  return (value, previous) => {
    const items = value.split(',').map((v) => v.trim()).filter(Boolean);
    for (const item of items) {
      if (!allowed.includes(item as T)) throw new InvalidArgumentError(`${flag}: "${item}" is not one of ${allowed.join(', ')}`);
    }
    return [...(previous ?? []), ...(items as T[])];
  };
}

export function gateCommand(): Command {
  return new Command('gate')
    .description('pre-deploy gate: replay every fixture × direction × timing against a server; fail on any crash or miscount')
    .argument('[fixtures...]', 'WAV files or folders of them (default: every WAV in ./fixtures)')
    .option('-c, --config <file>', `config file (default: ./${CONFIG_FILE} when present; its "gate" object)`)
    .option('--direction <list>', 'directions to test: inbound,outbound (default both)', listOf('--direction', CALL_DIRECTIONS))
    .option('--timing <list>', 'timings: realtime,burst,early-media (default all)', listOf('--timing', GATE_TIMINGS))
    .addOption(new Option('--speed <n>', 'pacing of realtime and early-media calls (2 = twice real time)').argParser(parsePositiveNumberOption('--speed')))
    .addOption(new Option('--concurrency <n>', 'calls at once').argParser(parseIntegerOption('--concurrency', 1, 1000)))
    .addOption(new Option('--url <ws-url>', 'test a running server at this Media Streams URL').argParser(parseWsUrl))
    .option('--server-cmd <command>', 'start this server command (any language) for the run; it gets PORT (and {port} in the command) and is stopped afterwards')
    .option('--ws-path <path>', `Media Streams path on a --server-cmd server that prints no ws:// URL (default: ${DEFAULTS.wsPath})`)
    .addOption(new Option('--ready-timeout <ms>', 'how long a --server-cmd server gets to start').argParser(parseIntegerOption('--ready-timeout', 100)))
    .addOption(new Option('--timeout <ms>', 'bound on each call').argParser(parseIntegerOption('--timeout', 100)))
    .addOption(new Option('--tail <ms>', 'line silence after each fixture while the agent answers').argParser(parseIntegerOption('--tail', 0)))
    .option('--no-expect-audio', 'do not fail calls the server never answers with audio')
    .option('--junit <file>', 'write a JUnit XML report (for CI test tabs)')
    .option('--json [file]', 'write the full result as JSON to a file, or to stdout with no file')
    .addHelpText(
      'after',
      `
Every call is judged by the replay's checks (counters match the wire, no early close, no bad
frames, audio answered) plus a scan of the server's output for crash signatures (TypeError,
ReferenceError, "Cannot read properties of undefined", unhandled rejections, Python
AttributeError/Traceback...), non-finite counters and calls the server never reports.
Exit 0 when every call passed, 1 when any failed, 2 on bad usage.

Examples:
  $ npx callsim gate                                        # built-in server, ./fixtures
  $ npx callsim gate --url wss://staging.example.com/media --junit gate.xml
  $ npx callsim gate --server-cmd "python3 server.py --port {port}" --concurrency 2
  $ npx callsim gate fixtures/hello-8k-mulaw.wav --direction outbound --timing burst`,
    )
    .action(async (fixtureArgs: string[], opts: GateCliOptions) => {
      process.exitCode = await runGateCommand(fixtureArgs, opts);
    });
}

async function runGateCommand(fixtureArgs: string[], opts: GateCliOptions): Promise<ExitCode> {
  const config = readConfig(opts.config);
  const fixtures = resolveFixtures(fixtureArgs.length > 0 ? fixtureArgs : (config.fixtures ?? []));
  // Decoding is also the check: a bad WAV is bad input (exit 2) before any server starts.
  const audio = new Map<string, MulawAudio>();
  for (const fixture of fixtures) {
    try {
      audio.set(fixture, loadWavAsMulawFrames(fixture));
    } catch (err) {
      if (err instanceof WavInputError) throw new UsageError(err.message);
      throw err;
    }
  }
  const url = opts.url ?? config.url;
  const serverCmd = opts.serverCmd ?? config.serverCmd;
  if (url !== undefined && serverCmd !== undefined) throw new UsageError('use --url or --server-cmd, not both');
  if (url !== undefined && opts.url === undefined) {
    try {
      parseWsUrl(url);
    } catch (err) {
      throw new UsageError(`gate.url: ${(err as Error).message}`);
    }
  }
  const target: TargetSpec =
    url !== undefined
      ? { kind: 'url', url }
      : serverCmd !== undefined
        ? { kind: 'command', command: serverCmd, wsPath: opts.wsPath ?? config.wsPath ?? DEFAULTS.wsPath, readyTimeoutMs: opts.readyTimeout ?? config.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs }
        : { kind: 'builtin' };

  const jsonToStdout = opts.json === true;
  const jsonFile = typeof opts.json === 'string' ? opts.json : config.json;
  const junitFile = opts.junit ?? config.junit;
  const directions = opts.direction ?? config.directions ?? [...CALL_DIRECTIONS];
  const timings = opts.timing ?? config.timings ?? [...GATE_TIMINGS];
  const total = fixtures.length * directions.length * timings.length;
  if (total === 0) throw new UsageError('nothing to test: the direction or timing list is empty');
  for (const file of [jsonFile, junitFile]) if (file !== undefined) requireOutputFolder(file);
  const tty = process.stderr.isTTY === true;
  const progress = (text: string): void => {
    if (tty) process.stderr.write(`\r\u001b[2K${text}`);
  };
  let failedSoFar = 0;

  const options: GateOptions = {
    fixtures,
    audio,
    directions,
    timings,
    speed: opts.speed ?? config.speed ?? DEFAULTS.speed,
    concurrency: opts.concurrency ?? config.concurrency ?? DEFAULTS.concurrency,
    target,
    expectAudio: opts.expectAudio === false ? false : (config.expectAudio ?? DEFAULTS.expectAudio),
    ...((opts.timeout ?? config.timeoutMs) !== undefined ? { timeoutMs: opts.timeout ?? config.timeoutMs } : {}),
    ...((opts.tail ?? config.tailMs) !== undefined ? { tailMs: opts.tail ?? config.tailMs } : {}),
    onCallStart: (cell, running, done) => progress(`callsim gate: ${done}/${total} done, ${running} running (${cell.id})`),
    onCallDone: (result, done) => {
      // The call's own findings so far; crash lines printed meanwhile are judged at the end.
      const failed = result.findings.length > 0;
      if (failed) failedSoFar += 1;
      const mark = failed ? chalk.red('FAIL') : chalk.green('pass');
      // One line per call in CI logs; a single updating line on a terminal.
      if (tty) progress(`callsim gate: ${done}/${total} done, ${failedSoFar} failed (last: ${result.id} ${mark})`);
      else process.stderr.write(`callsim gate: [${done}/${total}] ${mark} ${result.id}\n`);
    },
  };

  process.stderr.write(`callsim gate: ${total} calls (${fixtures.length} fixtures × ${directions.join('/')} × ${timings.join('/')}), concurrency ${options.concurrency}\n`);
  let result;
  try {
    result = await runGate(options);
  } catch (err) {
    if (err instanceof TargetError) {
      progress('');
      process.stderr.write(`${chalk.red('callsim gate: cannot start the server:')} ${err.message}\n`);
      for (const line of err.output.slice(-20)) process.stderr.write(chalk.gray(`  | ${line}\n`));
      return EXIT_CHECK_FAILED;
    }
    throw err;
  }
  progress('');
  if (tty) process.stderr.write('\n');

  if (jsonToStdout) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(formatTable(result) + '\n');
  if (jsonFile !== undefined) writeFileSync(jsonFile, JSON.stringify(result, null, 2) + '\n');
  if (junitFile !== undefined) writeFileSync(junitFile, formatJunit(result));
  return result.verdict === 'pass' ? EXIT_OK : EXIT_CHECK_FAILED;
}

function readConfig(file: string | undefined): GateConfig {
  try {
    return loadGateConfig(file);
  } catch (err) {
    if (err instanceof GateConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** The package's own fixtures, for `npx callsim gate` run where there is no ./fixtures. */
const PACKAGE_FIXTURES = packageFile('fixtures');

function resolveFixtures(args: string[]): string[] {
  const inputs = args.length > 0 ? args : [existsSync('fixtures') ? 'fixtures' : PACKAGE_FIXTURES];
  const files: string[] = [];
  for (const input of inputs) {
    if (!existsSync(input)) throw new UsageError(`${input}: file not found`);
    if (statSync(input).isDirectory()) {
      const wavs = readdirSync(input).filter((name) => name.toLowerCase().endsWith('.wav')).sort();
      if (wavs.length === 0) throw new UsageError(`${input}: no .wav files in this folder`);
      files.push(...wavs.map((name) => path.join(input, name)));
    } else {
      files.push(input);
    }
  }
  // The same file named twice (a folder and a file in it) is one fixture.
  const seen = new Set<string>();
  return files.filter((file) => {
    const key = path.resolve(file);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
