// `callsim load`: options, progress, the report and the exit code. The ramp is src/load/.
import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { styleFor, type Style } from '../text/style.js';
import { CALL_DIRECTIONS, type CallDirection } from '../twilio/codec.js';
import type { NetworkDelay } from '../caller/network.js';
import type { WebhookMethod } from '../caller/replay.js';
import { WavInputError, loadWavAsMulawFrames } from '../audio/wav.js';
import { TargetError } from '../gate/target.js';
import { redactSecrets } from '../log.js';
import { DEFAULT_CALL_AUDIO, LOAD_DEFAULTS, defaultWorkers, loadOptions, runLoad } from '../load/ramp.js';
import { formatLoadReport, stepLine } from '../load/table.js';
import { formatLoadHtml } from '../load/html.js';
import type { LoadResult, LoadStep } from '../load/types.js';
import type { LoadTargetSpec } from '../load/target.js';
import {
  collectParam,
  parseIntegerOption,
  parseNetworkDelay,
  parsePositiveNumberOption,
  parseWebhookMethod,
  parseWebhookPath,
  parseWebhookUrl,
  parseWsUrl,
  requireOutputFolder,
  UsageError,
  webhookTargetOf,
} from './options.js';
import { EXIT_CHECK_FAILED, EXIT_OK, type ExitCode } from './exit-codes.js';
import { watchSignals } from './signals.js';

interface LoadCliOptions {
  url?: string;
  serverCmd?: string;
  wsPath: string;
  readyTimeout: number;
  steps?: number[];
  hold: number;
  settle: number;
  ramp?: number;
  refine: number;
  workers: number;
  direction: CallDirection[];
  audio?: string;
  answerMs: number;
  webhook?: string | false;
  webhookPath?: string;
  webhookMethod?: WebhookMethod;
  authToken?: string;
  param?: Record<string, string>;
  networkDelayMs?: NetworkDelay;
  congestionMs: number;
  jitterBufferMs: number;
  maxJitterMs: number;
  maxGaps: number;
  maxLost: number;
  maxFailedCalls: number;
  maxLatencyMs?: number;
  generatorSlipMs: number;
  setupTimeout: number;
  retryWhenBusy?: boolean;
  minCapacity?: number;
  json?: string;
  html?: string;
}

function stepList(value: string): number[] {
  const steps = value.split(',').map((item) => {
    const n = Number(item.trim());
    if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new InvalidArgumentError(`--steps: "${item}" is not a whole number of calls from 1 to 100000`);
    return n;
  });
  if (steps.length === 0) throw new InvalidArgumentError('--steps: give at least one step');
  return steps;
}

function directionList(value: string): CallDirection[] {
  const items = value.split(',').map((v) => v.trim()).filter(Boolean);
  for (const item of items) if (!CALL_DIRECTIONS.includes(item as CallDirection)) throw new InvalidArgumentError(`--direction: "${item}" is not one of ${CALL_DIRECTIONS.join(', ')}`);
  if (items.length === 0) throw new InvalidArgumentError('--direction: give inbound, outbound or both');
  return items as CallDirection[];
}

export function loadCommand(): Command {
  const d = LOAD_DEFAULTS;
  return new Command('load')
    .description('capacity: ramp concurrent real-time calls into a server until the caller would hear it; report the largest step that passed')
    .addOption(new Option('--url <ws-url>', 'a running server at this Media Streams URL').argParser(parseWsUrl))
    .option('--server-cmd <command>', "start this server command (any language): it gets PORT ({port}) and the load's realtime simulator as its model (OPENAI_BASE_URL, OPENAI_API_KEY: a dummy, CALLSIM_REALTIME_URL, CALLSIM_REALTIME_WSS_URL, NODE_EXTRA_CA_CERTS, SSL_CERT_FILE; {realtimeUrl}, {realtimeWssUrl}, {openaiBaseUrl}, {caFile})")
    .option('--ws-path <path>', 'Media Streams path on a --server-cmd server that prints no ws:// URL', '/media')
    .addOption(new Option('--ready-timeout <ms>', 'how long a --server-cmd server gets to start').default(20_000).argParser(parseIntegerOption('--ready-timeout', 100)))
    .addOption(new Option('--steps <list>', `concurrent calls per step, comma-separated (default ${d.steps.join(',')})`).argParser(stepList))
    .addOption(new Option('--hold <s>', 'seconds measured per step').default(d.holdS).argParser(parsePositiveNumberOption('--hold')))
    .addOption(new Option('--settle <s>', 'seconds between the last call set up and the measurement').default(d.settleS).argParser(parseIntegerOption('--settle', 0, 600)))
    .addOption(new Option('--ramp <ms>', "how long a step's calls take to come up (default: 10 ms a call, 1-3 s)").argParser(parseIntegerOption('--ramp', 0, 600_000)))
    .addOption(new Option('--refine <n>', 'after the first failing step, halve the interval to the last passing one this many times').default(d.refine).argParser(parseIntegerOption('--refine', 0, 10)))
    .addOption(new Option('--workers <n>', 'generator threads, each with its own send wheel (0: in the main thread)').default(defaultWorkers(), `${defaultWorkers()}, the cores it may use`).argParser(parseIntegerOption('--workers', 0, 64)))
    .addOption(new Option('--direction <list>', 'call directions, taken in turn: inbound, outbound or inbound,outbound').default(['inbound'], 'inbound').argParser(directionList))
    .option('--audio <file.wav>', "the caller's speech, looped with a second of silence after it (default: the hello fixture)")
    .addOption(new Option('--answer-ms <ms>', "length of each answer of the load's simulator (the model of the built-in server and --server-cmd)").default(d.answerMs).argParser(parseIntegerOption('--answer-ms', 20, 60_000)))
    .addOption(new Option('--webhook <url>', "the server's voice webhook, requested for every call as Twilio does").argParser(parseWebhookUrl))
    .addOption(new Option('--webhook-path <path>', 'the voice webhook as a path on the target (default for the built-in server and --server-cmd: /twiml, direct mode if it is 404)').argParser(parseWebhookPath))
    .addOption(new Option('--webhook-method <method>', 'GET or POST (default POST, as Twilio)').argParser(parseWebhookMethod))
    .option('--no-webhook', 'direct mode: dial the stream URL with exactly the --params, no webhook step')
    .addOption(new Option('--auth-token <token>', 'sign every webhook and upgrade (X-Twilio-Signature) with this Twilio auth token').env('TWILIO_AUTH_TOKEN'))
    .addOption(new Option('--param <name=value>', "direct mode's start.customParameters (repeatable); {direction} is each call's direction").argParser(collectParam))
    .addOption(new Option('--network-delay-ms <ms>', 'one-way delay of mark echoes: N, or A-B drawn per mark (default 20-40)').argParser(parseNetworkDelay))
    .addOption(new Option('--congestion-ms <ms>', "audio ms the server's socket may stay backed up before caller audio is discarded (as Twilio, 31930)").default(d.congestionMs).argParser(parseIntegerOption('--congestion-ms', 0)))
    .addOption(new Option('--jitter-buffer-ms <ms>', "the caller's playout buffer before an answer starts playing").default(d.jitterBufferMs).argParser(parseIntegerOption('--jitter-buffer-ms', 0, 1000)))
    .addOption(new Option('--max-jitter-ms <ms>', 'a step passes with p99 jitter under this').default(d.thresholds.jitterP99Ms).argParser(parsePositiveNumberOption('--max-jitter-ms')))
    .addOption(new Option('--max-gaps <n>', 'audible gaps a passing step may have').default(d.thresholds.gaps).argParser(parseIntegerOption('--max-gaps', 0)))
    .addOption(new Option('--max-lost <n>', 'frames a passing step may lose').default(d.thresholds.lostFrames).argParser(parseIntegerOption('--max-lost', 0)))
    .addOption(new Option('--max-failed-calls <n>', 'calls a passing step may fail to set up or have dropped').default(d.thresholds.failedCalls).argParser(parseIntegerOption('--max-failed-calls', 0)))
    .addOption(new Option('--max-latency-ms <ms>', 'a step passes with p95 response latency under this (default: not judged)').argParser(parsePositiveNumberOption('--max-latency-ms')))
    .addOption(new Option('--generator-slip-ms <ms>', 'the generator counts as saturated when its own timing slips more than this (p99)').default(d.generatorSlipMs).argParser(parsePositiveNumberOption('--generator-slip-ms')))
    .addOption(new Option('--setup-timeout <ms>', "a call not streaming this long after it was placed fails (webhook and upgrade; Twilio waits 15 s for a webhook)").default(d.setupTimeoutMs).argParser(parseIntegerOption('--setup-timeout', 100, 120_000)))
    .option('--retry-when-busy', 'run a step that did not pass once more when other processes took over 20% of a core during it, once the server answers again (both runs are kept)')
    .addOption(new Option('--min-capacity <calls>', 'exit 1 when the capacity is below this').argParser(parseIntegerOption('--min-capacity', 1)))
    .option('--json <file>', 'write the whole result as JSON')
    .option('--html <file>', 'write the result as a self-contained HTML page: its charts by step and the table')
    .addHelpText(
      'after',
      `
Each step sets up N calls the way Twilio does (voice webhook, TwiML, signed stream), each a caller
who speaks and an agent who answers, looped; after a settle it measures the hold, hangs every call
up with stop and checks what was lost. The capacity is the largest step below the first one that
missed a threshold (p99 jitter, audible gaps, lost frames, failed calls; p95 response latency with
--max-latency-ms). A step in which the generator's own timing slipped is marked GENERATOR, one in
which the load's model simulator fell behind MODEL; neither is counted: it measured callsim load,
not the server. Exit 0 unless --min-capacity is not met (1); 2 on bad usage; 130 on Ctrl-C (the
steps so far are reported).

Examples:
  $ npx callsim load                                                     # the built-in callsim serve
  $ npx callsim load --server-cmd "node server.js" --steps 25,50,100 --hold 5
  $ npx callsim load --server-cmd "python3 agent.py --port {port}" --webhook-path /incoming-call --refine 2 --json load.json
  $ npx callsim load --url ws://localhost:8080/media --param direction={direction} --steps 10,20,40
  $ npx callsim load --server-cmd "node server.js" --direction inbound,outbound --max-latency-ms 1500 --min-capacity 50 --html load.html
  $ npx callsim load --server-cmd "node server.js" --workers 2 --steps 100,200 --network-delay-ms 40-80 --retry-when-busy`,
    )
    .action(async (opts: LoadCliOptions) => {
      process.exitCode = await runLoadCommand(opts);
    });
}

function targetOf(opts: LoadCliOptions): LoadTargetSpec {
  if (opts.url !== undefined && opts.serverCmd !== undefined) throw new UsageError('use --url or --server-cmd, not both');
  if (opts.url !== undefined) return { kind: 'url', url: opts.url };
  if (opts.serverCmd !== undefined) return { kind: 'command', command: opts.serverCmd, wsPath: opts.wsPath, readyTimeoutMs: opts.readyTimeout };
  return { kind: 'builtin' };
}

async function runLoadCommand(opts: LoadCliOptions): Promise<ExitCode> {
  const target = targetOf(opts);
  const audioFile = opts.audio ?? DEFAULT_CALL_AUDIO();
  try {
    loadWavAsMulawFrames(audioFile);
  } catch (err) {
    if (err instanceof WavInputError) throw new UsageError(err.message);
    throw err;
  }
  if (opts.json !== undefined) requireOutputFolder(opts.json);
  if (opts.html !== undefined) requireOutputFolder(opts.html);
  const webhook = webhookTargetOf(
    { ...(opts.webhook !== undefined ? { webhook: opts.webhook } : {}), ...(opts.webhookPath !== undefined ? { webhookPath: opts.webhookPath } : {}), ...(opts.param !== undefined ? { param: opts.param } : {}) },
    target.kind === 'url' ? 'direct' : 'webhook-or-direct',
  );
  const toErr = styleFor(process.stderr);
  const toOut = styleFor(process.stdout);
  const secrets = opts.authToken ? [opts.authToken] : [];
  const say = (text: string): string => redactSecrets(text, secrets);
  const signals = watchSignals(() => process.stderr.write(toErr.yellow('callsim load: stopping (hanging up the calls of this step; Ctrl-C again to quit at once)\n')));
  const options = loadOptions(target, {
    ...(opts.steps !== undefined ? { steps: opts.steps } : {}),
    holdS: opts.hold,
    settleS: opts.settle,
    rampMs: opts.ramp ?? null,
    refine: opts.refine,
    workers: opts.workers,
    directions: opts.direction,
    audioFile,
    answerMs: opts.answerMs,
    placement: {
      ...(webhook !== undefined ? { webhook } : {}),
      ...(opts.webhookMethod !== undefined ? { webhookMethod: opts.webhookMethod } : {}),
      ...(opts.param !== undefined ? { params: opts.param } : {}),
      authToken: opts.authToken ?? null,
    },
    ...(opts.networkDelayMs !== undefined ? { networkDelay: opts.networkDelayMs } : {}),
    congestionMs: opts.congestionMs,
    jitterBufferMs: opts.jitterBufferMs,
    thresholds: { jitterP99Ms: opts.maxJitterMs, gaps: opts.maxGaps, lostFrames: opts.maxLost, failedCalls: opts.maxFailedCalls, responseP95Ms: opts.maxLatencyMs ?? null },
    generatorSlipMs: opts.generatorSlipMs,
    setupTimeoutMs: opts.setupTimeout,
    retryWhenBusy: opts.retryWhenBusy === true,
    // callsim serve guards GET /calls with it (--calls-token): never an option, so never in `ps`.
    statsToken: process.env.CALLSIM_CALLS_TOKEN || null,
    signal: signals.signal,
    onProgress: ({ at, text }) => process.stderr.write(`${toErr.dim(`[${at.toFixed(1).padStart(6)} s]`)} ${say(text)}\n`),
    onStep: (step) => process.stderr.write(`${toErr.dim('         ')} ${painter(toErr)(step.verdict, say(stepLine(step)))}\n`),
  });
  let result: LoadResult;
  try {
    result = await runLoad(options);
  } catch (err) {
    if (err instanceof TargetError) {
      const interrupted = signals.exitCode();
      if (interrupted !== null) return interrupted;
      process.stderr.write(`${toErr.red('callsim load: cannot start the server:')} ${say(err.message)}\n`);
      for (const line of err.output.slice(-20)) process.stderr.write(toErr.gray(`  | ${say(line)}\n`));
      return EXIT_CHECK_FAILED;
    }
    throw err;
  } finally {
    signals.release();
  }
  process.stdout.write(say(formatLoadReport(result, painter(toOut))) + '\n');
  if (opts.json !== undefined) writeFileSync(opts.json, say(JSON.stringify(result, null, 2)) + '\n');
  if (opts.html !== undefined) writeFileSync(opts.html, say(formatLoadHtml(result)));
  const interrupted = signals.exitCode();
  if (interrupted !== null) return interrupted;
  if (opts.minCapacity !== undefined && (result.capacity.calls ?? 0) < opts.minCapacity) {
    process.stderr.write(toErr.red(`callsim load: capacity ${result.capacity.calls ?? 0} is below --min-capacity ${opts.minCapacity}\n`));
    return EXIT_CHECK_FAILED;
  }
  return EXIT_OK;
}

/** A step's verdict coloured for `style`'s stream. */
function painter(style: Style): (verdict: LoadStep['verdict'], text: string) => string {
  return (verdict, text) => (verdict === 'pass' ? style.green(text) : verdict === 'fail' ? style.red(text) : style.yellow(text));
}
