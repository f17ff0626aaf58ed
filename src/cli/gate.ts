// `callsim gate`: options and config file, the reports it writes, exit code. The matrix is
// gate/gate.ts, the config file gate/config.ts, the reports report/.
import { existsSync, statSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadWavAsMulawFrames, WavInputError, type MulawAudio } from '../audio/wav.js';
import { CALL_DIRECTIONS, type CallDirection } from '../twilio/codec.js';
import { badLineFrom, baselineInputs, planBaseline, readScenarios, settleBaseline, thresholdsOf } from './gate-conversations.js';
import {
  BAD_LINE_HELP,
  checkReporterOutputs,
  collectParam,
  collectReporter,
  parseIntegerOption,
  parseNetworkDelay,
  parsePositiveNumberOption,
  parseRateOption,
  parseSeedOption,
  parseWebhookMethod,
  parseWebhookPath,
  parseWebhookUrl,
  parseWsUrl,
  REPORTER_OPTION_HELP,
  requireOutputFolder,
  UsageError,
  webhookTargetOf,
} from './options.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE, type ExitCode } from './exit-codes.js';
import type { NetworkDelay } from '../caller/network.js';
import type { WebhookMethod } from '../caller/replay.js';
import { GATE_TIMINGS, runGate, type GateOptions, type GatePlacement, type GateResult, type GateTiming } from '../gate/gate.js';
import { CONFIG_FILE, GateConfigError, loadGateConfig, type GateConfig } from '../gate/config.js';
import { TargetError, targetLabel, type TargetSpec } from '../gate/target.js';
import { ReporterGroup, type ReporterSpec } from '../report/index.js';
import { printable } from '../text/printable.js';
import { styleFor } from '../text/style.js';
import { chooseFixtures, resolveFixtures } from './gate-fixtures.js';
import { watchSignals } from './signals.js';
import { redactSecrets } from '../log.js';
import type { GateWitnessOptions } from '../gate/witness/run.js';
import type { FirstSpeakerExpectation } from '../gate/witness/session-checks.js';
import { checkSimulatorUrl, parseFirstSpeaker, parseSimulatorUrl, readModelScript, WITNESS_HELP } from './witness-options.js';

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
  webhook?: string | false;
  webhookPath?: string;
  webhookMethod?: WebhookMethod;
  authToken?: string;
  param?: Record<string, string>;
  allowServerHangup?: boolean;
  networkDelayMs?: NetworkDelay;
  congestionMs?: number;
  agentAudio?: string;
  simulatorUrl?: string;
  simulator?: boolean;
  expectFirstSpeaker?: FirstSpeakerExpectation;
  modelCloseMs?: number;
  modelScript?: string;
  reporter?: ReporterSpec[];
  junit?: string;
  json?: string | boolean;
  scenarios?: string[];
  repeat?: number;
  maxResponseMs?: number;
  maxBargeInMs?: number;
  latencyMs?: number;
  jitterMs?: number;
  packetLoss?: number;
  seed?: number;
  artifacts?: string;
  baseline?: string;
  saveBaseline?: string;
  regressionPct?: number;
  regressionFloorMs?: number;
  html?: string;
  timeline?: boolean;
}

const collectPath = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

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
    .addOption(new Option('--speed <n>', 'pacing of realtime and early-media calls (2 = twice real time; default 1)').argParser(parsePositiveNumberOption('--speed')))
    .addOption(new Option('--concurrency <n>', 'calls at once, the repeats of a cell always one after another (default 4)').argParser(parseIntegerOption('--concurrency', 1, 1000)))
    .addOption(new Option('--url <ws-url>', 'test a running server at this Media Streams URL').argParser(parseWsUrl))
    .option('--server-cmd <command>', "start this server command (any language) for the run; it gets PORT (and {port} in the command) and the gate's simulator as its model (see below), and is stopped afterwards")
    .option('--ws-path <path>', `Media Streams path on a --server-cmd server that prints no ws:// URL (default: ${DEFAULTS.wsPath})`)
    .addOption(new Option('--ready-timeout <ms>', 'how long a --server-cmd server gets to start (default 20000)').argParser(parseIntegerOption('--ready-timeout', 100)))
    .addOption(new Option('--timeout <ms>', 'bound on each call (default 30000, more for long audio)').argParser(parseIntegerOption('--timeout', 100)))
    .addOption(new Option('--tail <ms>', 'line silence after each fixture while the agent answers (default 1500)').argParser(parseIntegerOption('--tail', 0)))
    .option('--no-expect-audio', 'do not fail calls the server never answers with audio')
    .addOption(new Option('--webhook <url>', "the server's voice webhook, POSTed first for every call as Twilio does (absolute http(s) URL)").argParser(parseWebhookUrl))
    .addOption(new Option('--webhook-path <path>', 'the voice webhook as a path on the target (default for the built-in server and --server-cmd: /twiml, direct mode if it is 404)').argParser(parseWebhookPath))
    .addOption(new Option('--webhook-method <method>', 'GET or POST (default POST, as Twilio)').argParser(parseWebhookMethod))
    .option('--no-webhook', 'direct mode: dial the stream URL with exactly the --params, no webhook step')
    .addOption(new Option('--auth-token <token>', 'sign every webhook and stream upgrade (X-Twilio-Signature) with this Twilio auth token').env('TWILIO_AUTH_TOKEN'))
    .addOption(new Option('--param <name=value>', "direct mode's start.customParameters (repeatable); {direction} in a value is each call's direction").argParser(collectParam))
    .option('--allow-server-hangup', 'accept a server that ends the stream with a normal close before stop')
    .addOption(new Option('--network-delay-ms <ms>', 'one-way delay of mark echoes: N, or A-B drawn per mark (default 20-40)').argParser(parseNetworkDelay))
    .addOption(new Option('--congestion-ms <ms>', "audio ms a server's socket may stay backed up before caller audio is discarded (31930; default 1000)").argParser(parseIntegerOption('--congestion-ms', 0)))
    .option('--agent-audio <file.wav>', "the agent's side of a <Start><Stream> fork's outbound track (default: silence)")
    .option('--scenarios <path>', 'scripted conversations: a scenario file or a folder of them (repeatable); each is a cell per direction × timing', collectPath)
    .addOption(new Option('-n, --repeat <n>', 'run each cell N times, one after another, and report the distribution (no retries)').argParser(parseIntegerOption('--repeat', 1, 1000)))
    .addOption(new Option('--max-response-ms <ms>', "fail any turn whose response latency (end of the caller's words to the first agent audio heard) is over this, or never came").argParser(parseIntegerOption('--max-response-ms', 0)))
    .addOption(new Option('--max-barge-in-ms <ms>', "fail any barge-in the agent took longer than this to stop for (a clear, or its audio ending), or never did").argParser(parseIntegerOption('--max-barge-in-ms', 0)))
    .addOption(new Option('--latency-ms <ms>', `bad line: ${BAD_LINE_HELP.latency}`).argParser(parseIntegerOption('--latency-ms', 0)))
    .addOption(new Option('--jitter-ms <ms>', `bad line: ${BAD_LINE_HELP.jitter}`).argParser(parseIntegerOption('--jitter-ms', 0)))
    .addOption(new Option('--packet-loss <rate>', `bad line: ${BAD_LINE_HELP.loss}`).argParser(parseRateOption('--packet-loss')))
    .addOption(new Option('--seed <n>', "every call's network seed (mark echoes, jitter, loss): the same seed replays the same calls").argParser(parseSeedOption))
    .option('--artifacts <dir>', "keep each failing call's stereo recording, JSONL wire trace and server log lines in DIR/<cell>/")
    .option('--save-baseline <file>', "save this run's figures (p50/p95 per cell) and the hash of its inputs")
    .option('--baseline <file>', 'fail on figures worse than this baseline by both --regression-pct and --regression-floor-ms; refused if made from other inputs')
    .addOption(new Option('--regression-pct <pct>', 'a regression is worse by more than this percentage (default 20)').argParser(parsePositiveNumberOption('--regression-pct')))
    .addOption(new Option('--regression-floor-ms <ms>', '...and by more than this many ms (default 100)').argParser(parseIntegerOption('--regression-floor-ms', 0)))
    .addOption(new Option('--simulator-url <url>', "a --url server's model: the callsim simulator it uses (its baseURL); its sessions are read to judge the model side").argParser(parseSimulatorUrl))
    .option('--no-simulator', "do not hand a --server-cmd server the gate's simulator (its model leg then goes unwatched)")
    .addOption(new Option('--expect-first-speaker <list>', 'who must speak first, per direction (inbound=caller,outbound=agent), judged by the model-first-speaker check').argParser(parseFirstSpeaker))
    .addOption(new Option('--model-close-ms <ms>', 'how soon after the stream ends a model session must be closed (default 2000)').argParser(parseIntegerOption('--model-close-ms', 0)))
    .option('--model-script <file>', "the model script of the gate's simulator (JSON or YAML, see callsim simulator --script)")
    .option('--reporter <name[=file]>', REPORTER_OPTION_HELP + ' (the progress line and the table)', collectReporter)
    .option('--junit <file>', 'write a JUnit XML report (for CI test tabs); short for --reporter junit=<file>')
    .option('--json [file]', 'write the full result as JSON to a file, or to stdout (instead of the table) with no file')
    .option('--html <file>', 'write the HTML report (every call on a timeline); short for --reporter html=<file>')
    .option('--timeline', "put each call's timeline in the JSON report too (large: a level per 20 ms frame)")
    .addHelpText(
      'after',
      `
Every call is placed as Twilio places it: the voice webhook (Twilio's parameters, Direction
inbound or outbound-api, signed with --auth-token / TWILIO_AUTH_TOKEN), then the stream its
TwiML names. The built-in server and --server-cmd are called at /twiml (a 404 there: direct mode,
said in the report); a --url target is dialled directly unless --webhook/--webhook-path is given.
In direct mode the direction only labels a call: pass it with --param direction={direction}.

Every call is judged by the replay's checks (webhook and TwiML, counters match the wire, no early
close, no bad frames, audio answered) plus a scan of the server's output for crash signatures (TypeError,
ReferenceError, "Cannot read properties of undefined", unhandled rejections, Python
AttributeError/Traceback...), non-finite counters and calls the server never reports.
Exit 0 when every call passed, 1 when any failed, 2 on bad usage.

${WITNESS_HELP.trim()}

Reports: by default a progress line on stderr and the table on stdout (and, on GitHub Actions,
the github reporter's annotations and job summary). Each --reporter name[=file] (table, json,
junit, html, github, progress) replaces those defaults; --junit, --json and --html add to them.
Every report is written even when the server cannot start or the run is interrupted (Ctrl-C,
SIGTERM: exit 130 / 143; a second signal quits at once).

Examples:
  $ npx callsim gate                                        # built-in server, ./fixtures
  $ npx callsim gate --url wss://staging.example.com/media --junit gate.xml
  $ npx callsim gate --server-cmd "python3 server.py --port {port}" --webhook-path /incoming-call
  $ npx callsim gate --url ws://localhost:8080/media --param direction={direction}
  $ npx callsim gate --url ws://localhost:8080/media --simulator-url http://127.0.0.1:8089/v1
  $ npx callsim gate --server-cmd "node agent.js" --expect-first-speaker inbound=caller,outbound=agent
  $ npx callsim gate --server-cmd "node agent.js" --model-script model-script.yaml --model-close-ms 1000
  $ npx callsim gate --reporter progress --reporter junit=gate.xml --reporter json=gate.json
  $ npx callsim gate --html callsim-report.html --junit callsim-junit.xml
  $ npx callsim gate fixtures/hello-8k-mulaw.wav --direction outbound --timing burst
  $ npx callsim gate --scenarios scenarios/ --max-response-ms 1500 --max-barge-in-ms 1200 -n 3
  $ npx callsim gate --scenarios scenarios/ --save-baseline baseline.json      # on main; then, on a branch:
  $ npx callsim gate --scenarios scenarios/ --baseline baseline.json --artifacts gate-artifacts/
  $ npx callsim gate --scenarios scenarios/ --latency-ms 80 --jitter-ms 40 --packet-loss 2% --seed 7`,
    )
    .action(async (fixtureArgs: string[], opts: GateCliOptions) => {
      process.exitCode = await runGateCommand(fixtureArgs, opts);
    });
}

async function runGateCommand(fixtureArgs: string[], opts: GateCliOptions): Promise<ExitCode> {
  const config = readConfig(opts.config);
  // Scenarios are read and checked before anything starts; with scenarios and no fixtures named, only the scenarios run.
  const scenarios = readScenarios(opts.scenarios ?? config.scenarios ?? []);
  const onlyScenarios = scenarios.length > 0 && fixtureArgs.length === 0 && (config.fixtures === undefined || config.fixtures.length === 0);
  const chosen = onlyScenarios ? { inputs: [], why: null } : chooseFixtures(fixtureArgs, config.fixtures);
  const fixtures = chosen.inputs.length === 0 ? [] : resolveFixtures(chosen.inputs);
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
  const target = targetOf(opts, config);
  const directions = opts.direction ?? config.directions ?? [...CALL_DIRECTIONS];
  const timings = opts.timing ?? config.timings ?? [...GATE_TIMINGS];
  const repeat = opts.repeat ?? config.repeat ?? 1;
  const total = (fixtures.length + scenarios.length) * directions.length * timings.length * repeat;
  if (total === 0) throw new UsageError('nothing to test: the direction or timing list is empty');
  const specs = reportersOf(opts, config);
  checkReporterOutputs(specs);
  const placement = placementOf(opts, config, target);
  const badLine = badLineFrom(opts, config);
  const seed = opts.seed ?? config.seed;
  if (badLine !== undefined) placement.badLine = badLine;
  if (seed !== undefined) placement.seed = seed;
  const speed = opts.speed ?? config.speed ?? DEFAULTS.speed;
  const tailMs = opts.tail ?? config.tailMs;
  const artifactsDir = opts.artifacts ?? config.artifacts;
  if (artifactsDir !== undefined && existsSync(artifactsDir) && !statSync(artifactsDir).isDirectory()) throw new UsageError(`--artifacts ${artifactsDir}: not a folder`);
  const saveTo = opts.saveBaseline ?? config.saveBaseline;
  if (saveTo !== undefined) requireOutputFolder(saveTo);
  const settings = { directions, timings, speed, tailMs: tailMs ?? null, badLine: badLine ?? null, seed: seed ?? null, networkDelay: placement.networkDelay ?? null };
  const baseline = planBaseline(opts.baseline ?? config.baseline, saveTo, baselineInputs(fixtures, scenarios, settings), {
    ...((opts.regressionPct ?? config.regressionPct) !== undefined ? { pct: opts.regressionPct ?? config.regressionPct } : {}),
    ...((opts.regressionFloorMs ?? config.regressionFloorMs) !== undefined ? { floorMs: opts.regressionFloorMs ?? config.regressionFloorMs } : {}),
  });
  const witness = await witnessOf(opts, config, target);
  const reporters = new ReporterGroup(specs, { command: 'gate', timeline: opts.timeline === true });
  // Where the fixtures came from when nobody named them: ./fixtures, or, with none here, the package's own.
  if (chosen.why !== null) process.stderr.write(`callsim gate: fixtures: ${chosen.why(fixtures.length)}\n`);

  const options: GateOptions = {
    fixtures,
    audio,
    scenarios,
    repeat,
    thresholds: thresholdsOf(opts, config),
    ...(artifactsDir !== undefined ? { artifactsDir } : {}),
    directions,
    timings,
    speed,
    concurrency: opts.concurrency ?? config.concurrency ?? DEFAULTS.concurrency,
    target,
    expectAudio: opts.expectAudio === false ? false : (config.expectAudio ?? DEFAULTS.expectAudio),
    placement,
    // callsim serve guards GET /calls with it (--calls-token); a server command inherits it too.
    statsToken: process.env.CALLSIM_CALLS_TOKEN || null,
    witness,
    ...((opts.timeout ?? config.timeoutMs) !== undefined ? { timeoutMs: opts.timeout ?? config.timeoutMs } : {}),
    ...(tailMs !== undefined ? { tailMs } : {}),
    onCallStart: (cell, running, done) => reporters.onCallStart({ cell, running, done, total }),
    onCallDone: (result, done, _total, report) => reporters.onCallEnd({ result, report, done, total }),
  };

  await reporters.onRunStart({
    total,
    plan: `${total} call${total === 1 ? '' : 's'} (${[fixtures.length > 0 ? `${fixtures.length} fixture${fixtures.length === 1 ? '' : 's'}` : '', scenarios.length > 0 ? `${scenarios.length} scenario${scenarios.length === 1 ? '' : 's'}` : ''].filter(Boolean).join(' + ')} × ${directions.join('/')} × ${timings.join('/')}${repeat > 1 ? ` × ${repeat} repeats` : ''}), concurrency ${options.concurrency}`,
  });
  const style = styleFor(process.stderr);
  const signals = watchSignals((signal) => {
    process.stderr.write(`${style.yellow(`callsim gate: ${signal}: hanging up, stopping the server and writing the reports`)} (again to quit at once)\n`);
  });
  let result: GateResult;
  try {
    result = await runGate({ ...options, signal: signals.signal });
  } catch (err) {
    if (!(err instanceof TargetError)) throw err;
    const interrupted = signals.signal.aborted ? String(signals.signal.reason) : null;
    // The auth token given on the command line is scrubbed too (the command's own secrets already are).
    const secrets = placement.authToken ? [placement.authToken] : [];
    const message = redactSecrets(err.message, secrets);
    const output = err.output.map((line) => redactSecrets(line, secrets));
    await reporters.onRunFailure({ message: `cannot start the server: ${message}`, output, target: targetLabel(target), interrupted });
    process.stderr.write(`${style.red('callsim gate: cannot start the server:')} ${printable(message)}\n`);
    for (const line of output.slice(-20)) process.stderr.write(style.gray(`  | ${printable(line)}\n`));
    if (interrupted === null) process.stderr.write(style.dim('(its output is above; --ready-timeout gives a slow server longer)\n'));
    reportErrors(reporters);
    return signals.exitCode() ?? EXIT_CHECK_FAILED;
  } finally {
    signals.release();
  }
  const settled = settleBaseline(baseline, result);
  if (settled.saveError !== null) process.stderr.write(`${style.red('callsim gate: cannot save the baseline:')} ${printable(settled.saveError)}\n`);
  await reporters.onRunEnd({ result, replay: null });
  reportErrors(reporters);
  if (result.interrupted !== null) return signals.exitCode() ?? EXIT_CHECK_FAILED;
  if (result.verdict === 'fail') return EXIT_CHECK_FAILED;
  return reporters.errors.length > 0 || settled.saveError !== null ? EXIT_USAGE : EXIT_OK;
}

function reportErrors(reporters: ReporterGroup): void {
  const style = styleFor(process.stderr);
  for (const error of reporters.errors) process.stderr.write(`${style.red(`callsim gate: the ${error.reporter} report failed:`)} ${printable(error.message)}\n`);
}

function readConfig(file: string | undefined): GateConfig {
  try {
    return loadGateConfig(file);
  } catch (err) {
    if (err instanceof GateConfigError) throw new UsageError(err.message);
    throw err;
  }
}

function targetOf(opts: GateCliOptions, config: GateConfig): TargetSpec {
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
  if (url !== undefined) return { kind: 'url', url };
  if (serverCmd === undefined) return { kind: 'builtin' };
  return { kind: 'command', command: serverCmd, wsPath: opts.wsPath ?? config.wsPath ?? DEFAULTS.wsPath, readyTimeoutMs: opts.readyTimeout ?? config.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs };
}

/** How every call is placed: the options, else the config file's keys of the same names. */
function placementOf(opts: GateCliOptions, config: GateConfig, target: TargetSpec): GatePlacement {
  const params = opts.param ?? config.params;
  // A webhook choice on the command line replaces the config file's.
  const fromCli = opts.webhook !== undefined || opts.webhookPath !== undefined;
  const given = {
    ...(fromCli ? { webhook: opts.webhook, webhookPath: opts.webhookPath } : { webhook: config.webhook, webhookPath: config.webhookPath }),
    ...(params !== undefined ? { param: params } : {}),
  };
  const webhook = webhookTargetOf(given, target.kind === 'url' ? 'direct' : target.kind === 'builtin' ? 'webhook' : 'webhook-or-direct');
  const networkDelay = opts.networkDelayMs ?? (config.networkDelayMs === undefined ? undefined : parseConfigDelay(config.networkDelayMs));
  const agentAudioFile = opts.agentAudio ?? config.agentAudio;
  const webhookMethod = opts.webhookMethod ?? config.webhookMethod;
  const congestionMs = opts.congestionMs ?? config.congestionMs;
  return {
    ...(webhook !== undefined ? { webhook } : {}),
    ...(webhookMethod !== undefined ? { webhookMethod } : {}),
    ...(params !== undefined ? { params } : {}),
    authToken: opts.authToken ?? null,
    allowServerHangup: opts.allowServerHangup ?? config.allowServerHangup ?? false,
    ...(networkDelay !== undefined ? { networkDelay } : {}),
    ...(congestionMs !== undefined ? { congestionMs } : {}),
    ...(agentAudioFile !== undefined ? { agentAudio: readAgentAudio(agentAudioFile) } : {}),
  };
}

/** The model side: the options, else the config file's keys of the same names. */
async function witnessOf(opts: GateCliOptions, config: GateConfig, target: TargetSpec): Promise<GateWitnessOptions> {
  const simulatorUrl = opts.simulatorUrl ?? config.simulatorUrl;
  if (simulatorUrl !== undefined) {
    if (target.kind !== 'url') throw new UsageError(`--simulator-url is for a --url target: ${target.kind === 'command' ? 'a --server-cmd server is handed the gate\'s own simulator' : "the built-in server's model is its embedded simulator"}`);
    if (opts.simulatorUrl === undefined) {
      try {
        parseSimulatorUrl(simulatorUrl);
      } catch (err) {
        throw new UsageError(`gate.simulatorUrl: ${(err as Error).message}`);
      }
    }
    await checkSimulatorUrl(simulatorUrl);
  }
  const simulator = opts.simulator === false ? false : (config.simulator ?? true);
  const expectFirstSpeaker = opts.expectFirstSpeaker ?? config.expectFirstSpeaker;
  const closeBoundMs = opts.modelCloseMs ?? config.modelCloseMs;
  const scriptFile = opts.modelScript ?? config.modelScript;
  return {
    ...(simulatorUrl !== undefined ? { simulatorUrl } : {}),
    simulator,
    ...(expectFirstSpeaker !== undefined ? { expectFirstSpeaker } : {}),
    ...(closeBoundMs !== undefined ? { closeBoundMs } : {}),
    ...(scriptFile !== undefined ? { script: readModelScript(scriptFile) } : {}),
  };
}

function parseConfigDelay(value: number | string): NetworkDelay {
  try {
    return parseNetworkDelay(String(value));
  } catch (err) {
    throw new UsageError(`gate.networkDelayMs: ${(err as Error).message}`);
  }
}

function readAgentAudio(file: string): MulawAudio {
  try {
    return loadWavAsMulawFrames(file);
  } catch (err) {
    if (err instanceof WavInputError) throw new UsageError(`--agent-audio ${err.message}`);
    throw err;
  }
}

/**
 * `--reporter`s as given, else the progress line and the table (and on GitHub Actions the github
 * reporter, as Vitest adds its own there); then the --json / --junit / --html shorthands.
 */
function reportersOf(opts: GateCliOptions, config: GateConfig): ReporterSpec[] {
  const jsonToStdout = opts.json === true;
  const jsonFile = typeof opts.json === 'string' ? opts.json : config.json;
  const junitFile = opts.junit ?? config.junit;
  const onGitHub = process.env.GITHUB_ACTIONS === 'true';
  const defaults: ReporterSpec[] = [{ name: 'progress', file: null }, ...(jsonToStdout ? [] : [{ name: 'table', file: null } as const]), ...(onGitHub ? [{ name: 'github', file: null } as const] : [])];
  const specs: ReporterSpec[] = opts.reporter !== undefined ? [...opts.reporter] : defaults;
  if (jsonToStdout) specs.push({ name: 'json', file: null });
  if (jsonFile !== undefined) specs.push({ name: 'json', file: jsonFile });
  if (junitFile !== undefined) specs.push({ name: 'junit', file: junitFile });
  if (opts.html !== undefined) specs.push({ name: 'html', file: opts.html });
  return specs;
}
