// `callsim replay [options] <file.wav>`: one simulated Twilio call, judged, as a CLI command.
// Exit codes (exit-codes.ts): 0 healthy call, 1 a check failed, 2 bad usage or input, 130
// interrupted. Reports go to stdout (the text view, or --json); progress and errors to stderr.
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadWavAsMulawFrames, WavInputError, type MulawAudio } from '../audio/wav.js';
import { CALL_DIRECTIONS, type CallDirection } from '../twilio/codec.js';
import type { CallTiming } from '../caller/clock.js';
import { runReplay, type ReplayReport } from '../caller/replay.js';
import { DTMF_DIGITS } from '../caller/call.js';
import type { GateTiming } from '../gate/gate.js';
import { ReporterGroup, replayCallResult, replayCell, replayRun, type ReporterSpec } from '../report/index.js';
import { checkReporterOutputs, collectReporter, parseWsUrl, REPORTER_OPTION_HELP, requireOutputFolder, UsageError } from './options.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { watchSignals } from './signals.js';
import { printable } from '../text/printable.js';

interface ReplayCliOptions {
  direction: CallDirection;
  url?: string;
  statsUrl?: string;
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

function collectParam(value: string, previous: Record<string, string>): Record<string, string> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected key=value.');
  const key = value.slice(0, eq);
  if (key === 'direction') throw new InvalidArgumentError('use --direction to set the direction.');
  return { ...previous, [key]: value.slice(eq + 1) };
}

// ---- command --------------------------------------------------------------------------------

const EXAMPLES = `
Examples:
  # replay against the built-in server (started in-process), in real time
  $ callsim replay fixtures/hello-8k-mulaw.wav

  # an outbound call (the agent greets first); fail unless the agent says something
  $ callsim replay --direction outbound --expect-audio fixtures/question-16k-pcm16.wav

  # your own server, as fast as possible, report as JSON (for CI)
  $ callsim replay --url ws://localhost:8080/media --burst --json fixtures/hello-8k-mulaw.wav

  # custom parameters, DTMF after the audio, keep what the agent said
  $ callsim replay --url wss://agent.example.com/media --stats-url https://agent.example.com \\
      --param lang=en --param account=42 --dtmf 1# --save-audio agent.wav call.wav

The caller's audio is followed by --tail ms of silence (kept going while the server is still
talking, up to --timeout). Stats come from GET /calls/<callSid> on the same host as --url unless
--stats-url says otherwise; without them only wire-level checks run.

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

async function runReplayAction(file: string, options: ReplayCliOptions): Promise<void> {
  if (options.saveAudio !== undefined) requireOutputFolder(options.saveAudio);
  const specs = reportersOf(options);
  checkReporterOutputs(specs);
  // An unreadable WAV is bad input, said before any report starts (as the gate does).
  const audio = decode(file);
  const reporters = new ReporterGroup(specs, { command: 'replay', quiet: options.quiet ?? false, timeline: options.timeline === true });

  const timing: CallTiming = options.burst ? { mode: 'burst' } : { mode: 'realtime', speed: options.speed };
  const cell = replayCell(file, options.direction, gateTimingOf(options));
  // The first Ctrl-C (or SIGTERM) hangs up cleanly (stop, close, report); a second one quits.
  const signals = watchSignals(() => undefined);

  await reporters.onRunStart({ total: 1, plan: null });
  reporters.onCallStart({ cell, running: 1, done: 0, total: 1 });
  let report: ReplayReport;
  try {
    report = await runReplay({
      file,
      audio,
      direction: options.direction,
      url: options.url,
      statsUrl: options.statsUrl,
      timing,
      earlyMedia: options.earlyMedia,
      startDelayMs: options.startDelay,
      dtmf: options.dtmf === undefined ? undefined : { digits: options.dtmf, atMs: options.dtmfAt },
      params: options.param,
      tailMs: options.tail,
      timeoutMs: options.timeout,
      expectAudio: options.expectAudio,
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
    .description('Replay a WAV file as a caller over Twilio Media Streams and check that the call was healthy.')
    .argument('<file.wav>', 'caller audio: any WAV (converted to 8 kHz mu-law frames)')
    .addOption(
      new Option('--direction <direction>', 'call direction, sent as customParameters.direction')
        .choices(CALL_DIRECTIONS)
        .default('inbound'),
    )
    .addOption(new Option('--url <ws-url>', 'Media Streams URL to call (default: built-in server, in-process)').argParser(parseWsUrl))
    .addOption(
      new Option('--stats-url <url>', 'where GET /calls/<callSid> lives (default: the --url host over http)').argParser(
        parseHttpUrl,
      ),
    )
    .addOption(new Option('--speed <n>', 'playback speed; 1 = real time').argParser(parseSpeed).default(1))
    .addOption(new Option('--burst', 'send the audio as fast as possible (no pacing)').conflicts('speed'))
    .addOption(new Option('--early-media', 'send the first frames in the same tick as start (race test)').conflicts('startDelay'))
    .addOption(new Option('--start-delay <ms>', 'pause between start and the first media frame').argParser(parseMs))
    .addOption(new Option('--dtmf <digits>', 'press these keys (0-9 * #), by default right after the audio').argParser(parseDigits))
    .addOption(new Option('--dtmf-at <ms>', 'audio time of the first DTMF digit').argParser(parseMs))
    .addOption(
      new Option('--param <key=value>', 'custom <Parameter> for start.customParameters (repeatable)')
        .argParser(collectParam)
        .default({}, 'none'),
    )
    .addOption(new Option('--tail <ms>', 'silence after the audio while waiting for the agent (default 1500)').argParser(parseMs))
    .addOption(
      new Option('--timeout <ms>', 'bound on the whole call (default 30000, more for long audio)').argParser(parsePositiveMs),
    )
    .option('--expect-audio', 'fail unless the server sends audio back')
    .option('--json', 'print only the JSON report on stdout')
    .option('--reporter <name[=file]>', REPORTER_OPTION_HELP + ' (the text report)', collectReporter)
    .option('--save-audio <out.wav>', "write the agent's audio (everything the server sent) to a WAV file (the HTML report embeds it)")
    .option('--timeline', "put the call's timeline in the JSON report (large: a level per 20 ms frame)")
    .option('--quiet', 'print only the verdict and failures')
    .addHelpText('after', EXAMPLES)
    .action(async (file: string, options: ReplayCliOptions, cmd: Command) => {
      if (options.dtmfAt !== undefined && options.dtmf === undefined) {
        cmd.error("error: option '--dtmf-at <ms>' needs --dtmf <digits>");
      }
      await runReplayAction(file, options);
    });
  return command;
}
