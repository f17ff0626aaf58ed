// `callsim replay [options] <file.wav>`: one simulated Twilio call, judged, as a CLI command.
// Exit codes (exit-codes.ts): 0 healthy call, 1 a check failed, 2 bad usage or input, 130
// interrupted. Reports go to stdout (the text view, or --json); progress and errors to stderr.
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadWavAsMulawFrames, WavInputError, type MulawAudio } from '../audio/wav.js';
import { CALL_DIRECTIONS, type CallDirection } from '../twilio/codec.js';
import type { CallTiming } from '../caller/clock.js';
import type { NetworkDelay } from '../caller/network.js';
import { runReplay, type ReplayReport, type WebhookMethod } from '../caller/replay.js';
import { loadScenario, ScenarioError, type LoadedScenario } from '../scenario/load.js';
import { runScenario } from '../scenario/run.js';
import { DTMF_DIGITS } from '../caller/call.js';
import type { GateTiming } from '../gate/gate.js';
import { ReporterGroup, replayCallResult, replayCell, replayRun, type ReporterSpec } from '../report/index.js';
import {
  checkReporterOutputs,
  collectParam,
  collectReporter,
  badLineOf,
  BAD_LINE_HELP,
  parseNetworkDelay,
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
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { watchSignals } from './signals.js';
import { printable } from '../text/printable.js';
import { NO_WITNESS_FOR_URL } from '../gate/witness/run.js';
import type { FirstSpeakerExpectation } from '../gate/witness/session-checks.js';
import { remoteSource } from '../gate/witness/source.js';
import { ModelWitness } from '../gate/witness/witness.js';
import { checkSimulatorUrl, parseFirstSpeaker, parseSimulatorUrl } from './witness-options.js';

interface ReplayCliOptions {
  direction: CallDirection;
  url?: string;
  webhook?: string | false;
  webhookPath?: string;
  webhookMethod?: WebhookMethod;
  authToken?: string;
  agentAudio?: string;
  networkDelayMs?: NetworkDelay;
  congestionMs?: number;
  allowServerHangup?: boolean;
  statsUrl?: string;
  simulatorUrl?: string;
  expectFirstSpeaker?: FirstSpeakerExpectation;
  modelCloseMs?: number;
  speed: number;
  burst?: boolean;
  earlyMedia?: boolean;
  startDelay?: number;
  dtmf?: string;
  dtmfAt?: number;
  param: Record<string, string>;
  tail?: number;
  timeout?: number;
  expectAudio?: boolean;
  json?: boolean;
  reporter?: ReporterSpec[];
  saveAudio?: string;
  quiet?: boolean;
  scenario?: string;
  latencyMs?: number;
  jitterMs?: number;
  packetLoss?: number;
  seed?: number;
  record?: string;
  trace?: string;
  timeline?: boolean;
}

// ---- option parsers (throwing InvalidArgumentError makes commander report a usage error) ------

function parseSpeed(value: string): number {
  const speed = Number(value);
  if (value.trim() === '' || !Number.isFinite(speed) || speed <= 0) {
    throw new InvalidArgumentError('must be a number > 0 (1 = real time, 2 = twice as fast).');
  }
  return speed;
}

function parseMs(value: string): number {
  const ms = Number(value);
  if (value.trim() === '' || !Number.isFinite(ms) || ms < 0) {
    throw new InvalidArgumentError('must be a number of milliseconds >= 0.');
  }
  return ms;
}

function parsePositiveMs(value: string): number {
  const ms = parseMs(value);
  if (ms === 0) throw new InvalidArgumentError('must be a number of milliseconds > 0.');
  return ms;
}

function parseHttpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.replace('{callSid}', 'CALLSID').replace(':callSid', 'CALLSID'));
  } catch {
    throw new InvalidArgumentError('not a URL (expected http://host:port or https://...).');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError('expected an http:// or https:// URL.');
  }
  return value;
}

function parseDigits(value: string): string {
  if (!DTMF_DIGITS.test(value)) throw new InvalidArgumentError('DTMF digits are 0-9, * and #.');
  return value;
}

// ---- command --------------------------------------------------------------------------------

const EXAMPLES = `
Examples:
  # against the built-in server (started in-process): its /twiml webhook, then the stream
  $ callsim replay fixtures/hello-8k-mulaw.wav

  # an outbound-api call (the agent greets first); fail unless the agent says something
  $ callsim replay --direction outbound --expect-audio fixtures/question-16k-pcm16.wav

  # your own server, through its voice webhook, signed with your auth token
  $ TWILIO_AUTH_TOKEN=... callsim replay --webhook http://localhost:8080/incoming-call \\
      --direction outbound fixtures/hello-8k-mulaw.wav

  # dial a stream directly (no webhook): the parameters are exactly the --params
  $ callsim replay --url ws://localhost:8080/media --param direction={direction} --burst --json call.wav

  # a scripted caller: barge in, backchannel, press keys, hang up; a stereo recording of the call
  $ callsim replay --scenario fixtures/scenarios/barge-in.yaml --record call.wav --trace call.jsonl

  # on a bad line: 80 ms each way, up to 40 ms of jitter, 2 % of the caller's frames lost, seeded
  $ callsim replay --latency-ms 80 --jitter-ms 40 --packet-loss 2% --seed 7 fixtures/hello-8k-mulaw.wav

  # your server and the callsim simulator it uses as its model: judge the model leg too
  $ callsim replay --url ws://localhost:8080/media --simulator-url http://127.0.0.1:8089/v1 \
      --expect-first-speaker inbound=caller --model-close-ms 1000 fixtures/hello-8k-mulaw.wav

  # DTMF after the audio, keep what the agent said
  $ callsim replay --url wss://agent.example.com/media --webhook-path /twiml \\
      --stats-url https://agent.example.com --dtmf 1# --save-audio agent.wav call.wav

How the call is placed: like Twilio, through the voice webhook (POST, Twilio's parameters, CallSid
and Direction: inbound or outbound-api), whose TwiML names the stream to dial. The built-in
server's webhook is its /twiml; for --url, give --webhook URL or --webhook-path PATH, else the
--url is dialled directly (direct mode: no webhook ran, --direction only labels the call).

The caller's audio is followed by --tail ms of silence (kept going while the server is still
talking, up to --timeout). Stats come from GET /calls/<callSid> on the stream's host unless
--stats-url says otherwise; without them only wire-level checks run.

The model side (model-* checks): the built-in server is watched through its embedded simulator;
a --url server through --simulator-url, the callsim simulator it was pointed at (each call is
tied to its model sessions by the watermark in the caller's audio, or by time).

Reports: the text report on stdout (and a live line on a terminal). Each --reporter name[=file]
(table, json, junit, html, github, progress) replaces it; --json prints the JSON report instead
of it. Ctrl-C or SIGTERM hangs up cleanly and still writes every report.

Exit codes: 0 healthy call, 1 a check failed, 2 bad usage or unreadable WAV, 130 interrupted
(143 on SIGTERM).`;

/** `--reporter`s as given, else the text view (the live line too, on a terminal); then --json. */
function reportersOf(options: ReplayCliOptions): ReporterSpec[] {
  const live = process.stderr.isTTY === true && !options.quiet;
  const specs: ReporterSpec[] =
    options.reporter !== undefined
      ? [...options.reporter]
      : [...(live ? [{ name: 'progress', file: null } as const] : []), ...(options.json ? [] : [{ name: 'table', file: null } as const])];
  if (options.json) specs.push({ name: 'json', file: null });
  return specs;
}

/** The caller's audio, or a usage error in one line that says what is wrong with the file. */
function decode(file: string): MulawAudio {
  try {
    return loadWavAsMulawFrames(file);
  } catch (err) {
    if (err instanceof WavInputError) throw new UsageError(`${err.file}: ${err.problem}`);
    throw err;
  }
}

function gateTimingOf(options: ReplayCliOptions): GateTiming {
  return options.burst ? 'burst' : options.earlyMedia ? 'early-media' : 'realtime';
}

/** The fork's outbound track audio, read up front: a bad WAV is bad input (exit 2) before any call. */
function agentAudioOf(file: string | undefined): MulawAudio | undefined {
  if (file === undefined) return undefined;
  try {
    return loadWavAsMulawFrames(file);
  } catch (err) {
    if (err instanceof WavInputError) throw new UsageError(`--agent-audio ${err.file}: ${err.problem}`);
    throw err;
  }
}

/** The scenario named by --scenario, read and checked before anything is dialled (a bad one is exit 2). */
function scenarioOf(file: string | undefined): LoadedScenario | null {
  if (file === undefined) return null;
  try {
    return loadScenario(file);
  } catch (err) {
    if (err instanceof ScenarioError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * The model side: the built-in server through its embedded simulator, a --url server through the
 * --simulator-url it uses; otherwise every model-side check says it could not look.
 */
async function witnessOf(options: ReplayCliOptions): Promise<ModelWitness> {
  const settings = {
    ...(options.expectFirstSpeaker !== undefined ? { expectFirstSpeaker: options.expectFirstSpeaker } : {}),
    ...(options.modelCloseMs !== undefined ? { closeBoundMs: options.modelCloseMs } : {}),
  };
  if (options.simulatorUrl !== undefined) {
    if (options.url === undefined) throw new UsageError("--simulator-url is for a --url target: the built-in server's model is its embedded simulator");
    await checkSimulatorUrl(options.simulatorUrl);
    return new ModelWitness({ source: remoteSource(options.simulatorUrl), ...settings });
  }
  const builtIn = options.url === undefined && typeof options.webhook !== 'string';
  return new ModelWitness(builtIn ? { source: 'built-in', ...settings } : { source: null, blindReason: NO_WITNESS_FOR_URL, ...settings });
}

async function runReplayAction(file: string, options: ReplayCliOptions): Promise<void> {
  if (options.saveAudio !== undefined) requireOutputFolder(options.saveAudio);
  for (const output of [options.record, options.trace]) if (output !== undefined) requireOutputFolder(output);
  const scenario = scenarioOf(options.scenario);
  const badLine = badLineOf(options);
  // A --url target without a webhook is dialled directly; the built-in server has its /twiml.
  const webhook = webhookTargetOf(options, options.url !== undefined ? 'direct' : 'webhook');
  const agentAudio = agentAudioOf(options.agentAudio);
  const witness = await witnessOf(options);
  const specs = reportersOf(options);
  checkReporterOutputs(specs);
  // An unreadable WAV is bad input, said before any report starts (as the gate does).
  const audio = scenario === null ? decode(file) : undefined;
  const reporters = new ReporterGroup(specs, { command: 'replay', quiet: options.quiet ?? false, timeline: options.timeline === true });

  const timing: CallTiming = options.burst ? { mode: 'burst' } : { mode: 'realtime', speed: options.speed };
  const cell = replayCell(file, options.direction, gateTimingOf(options), scenario === null ? 'fixture' : 'scenario');
  // The first Ctrl-C (or SIGTERM) hangs up cleanly (stop, close, report); a second one quits.
  const signals = watchSignals(() => undefined);

  await reporters.onRunStart({ total: 1, plan: null });
  reporters.onCallStart({ cell, running: 1, done: 0, total: 1 });
  let report: ReplayReport;
  try {
    const run = scenario === null ? runReplay : (replay: Parameters<typeof runReplay>[0]) => runScenario({ ...replay, scenario });
    report = await run({
      file,
      ...(audio !== undefined ? { audio } : {}),
      direction: options.direction,
      url: options.url,
      ...(webhook !== undefined ? { webhook } : {}),
      ...(options.webhookMethod !== undefined ? { webhookMethod: options.webhookMethod } : {}),
      authToken: options.authToken ?? null,
      ...(agentAudio !== undefined ? { agentAudio } : {}),
      ...(options.networkDelayMs !== undefined ? { networkDelay: options.networkDelayMs } : {}),
      ...(options.congestionMs !== undefined ? { congestionMs: options.congestionMs } : {}),
      ...(badLine !== undefined ? { badLine } : {}),
      ...(options.seed !== undefined ? { networkSeed: options.seed } : {}),
      ...(options.record !== undefined ? { recordPath: options.record } : {}),
      ...(options.trace !== undefined ? { tracePath: options.trace } : {}),
      allowServerHangup: options.allowServerHangup ?? false,
      statsUrl: options.statsUrl,
      // callsim serve guards GET /calls with it (--calls-token): never an option, so never in `ps`.
      statsToken: process.env.CALLSIM_CALLS_TOKEN || null,
      timing,
      earlyMedia: options.earlyMedia,
      startDelayMs: options.startDelay,
      dtmf: options.dtmf === undefined ? undefined : { digits: options.dtmf, atMs: options.dtmfAt },
      params: options.param,
      tailMs: options.tail,
      timeoutMs: options.timeout,
      expectAudio: options.expectAudio,
      witness,
      saveAudioPath: options.saveAudio,
      signal: signals.signal,
      onProgress: (progress) => reporters.onCallProgress(progress),
    });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const interrupted = signals.signal.aborted ? String(signals.signal.reason) : null;
    await reporters.onRunFailure({ message, output: [], target: options.url ?? 'built-in callsim serve', interrupted });
    process.stderr.write(`callsim replay: ${printable(message)}\n`);
    process.exitCode = signals.exitCode() ?? EXIT_CHECK_FAILED;
    return;
  } finally {
    signals.release();
  }

  const call = replayCallResult(cell, report);
  reporters.onCallEnd({ result: call, report, done: 1, total: 1 });
  const interrupted = signals.signal.aborted ? String(signals.signal.reason) : null;
  await reporters.onRunEnd(replayRun(call, report, interrupted));
  for (const error of reporters.errors) process.stderr.write(`callsim replay: the ${error.reporter} report failed: ${error.message}\n`);
  if (report.savedAudio?.error) {
    process.stderr.write(`callsim replay: ${report.savedAudio.file}: ${report.savedAudio.error}\n`);
  }

  const signalCode = signals.exitCode();
  if (signalCode !== null) process.exitCode = signalCode;
  else if (report.verdict === 'fail') process.exitCode = EXIT_CHECK_FAILED;
  else if (report.savedAudio?.error || reporters.errors.length > 0) process.exitCode = EXIT_USAGE;
  else process.exitCode = EXIT_OK;
}

export function replayCommand(): Command {
  const command = new Command('replay');
  command
    .description('Replay a WAV file (or run a scripted --scenario) as a caller over Twilio Media Streams and check that the call was healthy.')
    .argument('[file.wav]', 'caller audio: any WAV (converted to 8 kHz mu-law frames); not with --scenario')
    .option('--scenario <file.yaml>', 'a scripted caller instead of one WAV: say, wait, wait_for, dtmf, barge in, backchannel, hang up; with expectations (see the README)')
    .addOption(
      new Option('--direction <direction>', "the call's direction: the webhook's Direction (inbound / outbound-api); in direct mode only a label")
        .choices(CALL_DIRECTIONS)
        .default('inbound'),
    )
    .addOption(new Option('--url <ws-url>', 'Media Streams URL of a running server (default: built-in server, in-process); dialled directly unless a webhook is given').argParser(parseWsUrl))
    .addOption(new Option('--webhook <url>', 'the voice webhook to POST first, as Twilio does (absolute http(s) URL)').argParser(parseWebhookUrl))
    .addOption(new Option('--webhook-path <path>', 'the voice webhook as a path on the --url host (the built-in server: /twiml)').argParser(parseWebhookPath))
    .addOption(new Option('--webhook-method <method>', 'GET or POST (default POST, as Twilio)').argParser(parseWebhookMethod))
    .option('--no-webhook', 'direct mode: dial the stream URL with exactly the --params, no webhook step')
    .addOption(new Option('--auth-token <token>', 'sign the webhook and the stream upgrade (X-Twilio-Signature) with this Twilio auth token').env('TWILIO_AUTH_TOKEN'))
    .addOption(
      new Option('--stats-url <url>', 'where GET /calls/<callSid> lives (default: the --url host over http)').argParser(
        parseHttpUrl,
      ),
    )
    .addOption(new Option('--speed <n>', 'playback speed; 1 = real time').argParser(parseSpeed).default(1))
    .addOption(new Option('--burst', 'send the audio as fast as possible (no pacing)').conflicts('speed'))
    .addOption(new Option('--early-media', 'send the first frames in the same tick as start (race test)').conflicts('startDelay'))
    .addOption(new Option('--start-delay <ms>', 'pause between start and the first media frame (default 0)').argParser(parseMs))
    .addOption(new Option('--dtmf <digits>', 'press these keys (0-9 * #), by default right after the audio').argParser(parseDigits))
    .addOption(new Option('--dtmf-at <ms>', 'audio time of the first DTMF digit').argParser(parseMs))
    .addOption(
      new Option('--param <name=value>', "direct mode's start.customParameters (repeatable); {direction} in a value is the call's direction").argParser(collectParam),
    )
    .addOption(new Option('--agent-audio <file.wav>', "the agent's side of the call, for a <Start><Stream> fork's outbound track (default: silence)"))
    .addOption(new Option('--network-delay-ms <ms>', 'one-way delay of mark echoes back to the server: N, or A-B drawn per mark (default 20-40)').argParser(parseNetworkDelay))
    .addOption(new Option('--congestion-ms <ms>', "audio ms the server's socket may stay backed up before Twilio discards caller audio (31930; default 1000)").argParser(parseMs))
    .option('--allow-server-hangup', 'accept a server that ends the stream with a normal close before stop (Twilio goes on with the next verb)')
    .addOption(new Option('--latency-ms <ms>', `bad line: ${BAD_LINE_HELP.latency}`).argParser(parseMs))
    .addOption(new Option('--jitter-ms <ms>', `bad line: ${BAD_LINE_HELP.jitter}`).argParser(parseMs))
    .addOption(new Option('--packet-loss <rate>', `bad line: ${BAD_LINE_HELP.loss}`).argParser(parseRateOption('--packet-loss')))
    .addOption(new Option('--seed <n>', 'seed of the call\'s network (mark echoes, jitter, loss): the same seed replays the same call (default: from the callSid)').argParser(parseSeedOption))
    .option('--record <file.wav>', 'write the call as a stereo WAV on one clock: the caller left, the agent right, as heard')
    .option('--trace <file.jsonl>', "write the call's wire trace (both legs, payloads hashed, secrets redacted) as JSONL")
    .addOption(new Option('--tail <ms>', 'silence after the audio while waiting for the agent (default 1500)').argParser(parseMs))
    .addOption(
      new Option('--timeout <ms>', 'bound on the whole call (default 30000, more for long audio)').argParser(parsePositiveMs),
    )
    .option('--expect-audio', 'fail unless the server sends audio back')
    .addOption(new Option('--simulator-url <url>', "a --url server's model: the callsim simulator it uses (its baseURL), read to judge the model side").argParser(parseSimulatorUrl))
    .addOption(new Option('--expect-first-speaker <list>', 'who must speak first, per direction (inbound=caller,outbound=agent), judged by the model-first-speaker check').argParser(parseFirstSpeaker))
    .addOption(new Option('--model-close-ms <ms>', 'how soon after the stream ends a model session must be closed (default 2000)').argParser(parseMs))
    .option('--json', 'print only the JSON report on stdout')
    .option('--reporter <name[=file]>', REPORTER_OPTION_HELP + ' (the text report)', collectReporter)
    .option('--save-audio <out.wav>', "write the agent's audio (everything the server sent) to a WAV file (the HTML report embeds it)")
    .option('--timeline', "put the call's timeline in the JSON report (large: a level per 20 ms frame)")
    .option('--quiet', 'print only the verdict and failures')
    .addHelpText('after', EXAMPLES)
    .action(async (file: string | undefined, options: ReplayCliOptions, cmd: Command) => {
      if (options.dtmfAt !== undefined && options.dtmf === undefined) {
        cmd.error("error: option '--dtmf-at <ms>' needs --dtmf <digits>");
      }
      if (options.scenario !== undefined) {
        if (file !== undefined) cmd.error('error: give a WAV file or --scenario, not both');
        for (const [given, flag] of [[options.dtmf, '--dtmf'], [options.tail, '--tail'], [options.saveAudio, '--save-audio']] as const) {
          if (given !== undefined) cmd.error(`error: ${flag} does not go with --scenario: ${flag === '--dtmf' ? 'press keys with a dtmf step' : flag === '--tail' ? 'a scenario ends when its steps do' : 'use --record'}`);
        }
      } else if (file === undefined) {
        cmd.error("error: missing required argument 'file.wav' or --scenario FILE");
      }
      await runReplayAction(file ?? options.scenario!, options);
    });
  return command;
}
