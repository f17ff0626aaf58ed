// `callsim replay [options] <file.wav>`: one simulated Twilio call, judged, as a CLI command.
// Exit codes (exit-codes.ts): 0 healthy call, 1 a check failed, 2 bad usage or input, 130
// interrupted. Results go to stdout (human text or --json); progress and input errors to stderr.
import chalk from 'chalk';
import { Command, InvalidArgumentError, Option } from 'commander';
import { WavInputError } from '../audio/wav.js';
import { CALL_DIRECTIONS, type CallDirection } from '../twilio/codec.js';
import type { CallTiming } from '../caller/clock.js';
import { runReplay, type ReplayCheck, type ReplayReport } from '../caller/replay.js';
import { DTMF_DIGITS, type CallProgress } from '../caller/call.js';
import { parseWsUrl, requireOutputFolder } from './options.js';
import { EXIT_CHECK_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';

const PROGRESS_INTERVAL_MS = 100;

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
  saveAudio?: string;
  quiet?: boolean;
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

// ---- output ---------------------------------------------------------------------------------

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function checkLine(check: ReplayCheck): string {
  const mark =
    check.status === 'pass' ? chalk.green('✓') : check.status === 'fail' ? chalk.red('✗') : chalk.dim('–');
  const name = check.status === 'skip' ? chalk.dim(check.name.padEnd(24)) : check.name.padEnd(24);
  return `  ${mark} ${name} ${chalk.dim(check.reason)}`;
}

function counterRows(report: ReplayReport): string[] {
  const { call } = report;
  const server = report.stats.counters;
  const pairs: Array<[label: string, serverName: string, wire: number]> = [
    ['media in (caller → server)', 'audioInChunks', call.framesSent],
    ['media out (server → caller)', 'audioOutChunks', call.framesReceived],
    ['marks sent / received', 'marksSent', call.marksReceived],
    ['marks echoed back', 'marksReceived', call.marksEchoed],
    ['clears', 'clearsSent', call.clearsReceived],
    ['dtmf digits', 'dtmfReceived', call.dtmfDigitsSent.length],
  ];
  const rows = [chalk.dim(`  ${'counter'.padEnd(30)}${'server'.padStart(10)}${'wire'.padStart(10)}`)];
  for (const [label, serverName, wire] of pairs) {
    const serverValue = server === null ? undefined : server[serverName];
    const serverText = serverValue === undefined ? '—' : serverValue === null ? 'null' : String(serverValue);
    const agree = serverValue === wire;
    const text = `  ${label.padEnd(30)}${serverText.padStart(10)}${String(wire).padStart(10)}`;
    rows.push(server === null ? text : agree ? text : chalk.yellow(text));
  }
  if (server !== null) {
    const shown = new Set(pairs.map(([, serverName]) => serverName));
    const others = Object.entries(server)
      .filter(([name]) => !shown.has(name))
      .map(([name, value]) => (value === null ? chalk.red(`${name}=null`) : `${name}=${value}`));
    if (others.length > 0) rows.push(chalk.dim(`  other server counters: `) + others.join(' '));
  }
  return rows;
}

/** The human-readable report (no trailing newline). `quiet` keeps only the verdict and failures. */
export function formatReplayReport(report: ReplayReport, quiet = false): string {
  const lines: string[] = [];
  const { call } = report;
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const passed = report.checks.filter((c) => c.status === 'pass').length;
  if (!quiet) {
    const target = report.target.builtInServer ? `${report.target.url} (built-in server)` : report.target.url;
    const pace = report.timing.mode === 'burst' ? 'burst' : `real time ×${report.timing.speed}`;
    lines.push(`${chalk.bold('callsim replay')} ${report.fixture.file} → ${target}`);
    lines.push(
      chalk.dim(
        `  ${report.direction} call · ${pace} · audio ${seconds(report.fixture.durationMs)} (${report.fixture.frames} frames) · ` +
          `call ${call.callSid}`,
      ),
    );
    lines.push('');
    if (call.connected) {
      lines.push(
        `  frames       sent ${call.framesSent} (${call.audioFramesSent} audio + ${call.silenceFramesSent} silence)` +
          `, received ${call.framesReceived} (${call.bytesReceived} bytes)`,
      );
      const latency = call.firstAudioLatencyMs === null ? 'no audio came back' : `${call.firstAudioLatencyMs} ms`;
      lines.push(`  first audio  ${latency}`);
      lines.push(`  duration     ${seconds(call.durationMs)}`);
      const closer = call.closedBy ?? 'nobody';
      const when = call.serverClosedBeforeStop ? chalk.red('before stop') : call.stopSent ? 'after stop' : 'without stop';
      lines.push(`  closed       by ${closer} ${when}, code ${call.closeCode ?? '—'}${call.closeReason ? ` "${call.closeReason}"` : ''}`);
      if (call.marksReceived > 0 || call.clearsReceived > 0) {
        lines.push(
          `  playback     ${call.marksReceived} marks (${call.marksEchoed} echoed, ${call.marksPendingAtEnd} unplayed at hang-up)` +
            `, ${call.clearsReceived} clears (${call.audioClearedMs} ms dropped)`,
        );
      }
      lines.push('');
      lines.push(...counterRows(report));
      if (report.stats.note) lines.push(chalk.dim(`  note: ${report.stats.note}`));
      lines.push('');
    }
    lines.push(...report.checks.map(checkLine));
    if (report.savedAudio) {
      lines.push(
        report.savedAudio.error === null
          ? chalk.dim(`  saved ${report.savedAudio.frames} frames of the agent's audio to ${report.savedAudio.file}`)
          : chalk.red(`  could not save audio to ${report.savedAudio.file}: ${report.savedAudio.error}`),
      );
    }
    lines.push('');
  }
  if (report.verdict === 'pass') {
    lines.push(`${chalk.green.bold('PASS')} ${chalk.green(`healthy call: ${passed} checks passed`)}`);
  } else {
    lines.push(`${chalk.red.bold('FAIL')} ${chalk.red(`${failed} of ${passed + failed} checks failed`)}`);
    for (const failure of report.failures) lines.push(chalk.red(`  • ${failure}`));
  }
  return lines.join('\n');
}

/** A single self-overwriting status line on a TTY stderr; nothing at all otherwise. */
function progressReporter(enabled: boolean): { update(progress: CallProgress): void; done(): void } {
  if (!enabled) return { update() {}, done() {} };
  let lastDrawn = 0;
  let drawn = false;
  return {
    update(progress) {
      const now = Date.now();
      if (now - lastDrawn < PROGRESS_INTERVAL_MS) return;
      lastDrawn = now;
      drawn = true;
      const audio = `${progress.audioFramesSent}/${progress.audioFrames} audio frames`;
      const line =
        `  ${progress.phase.padEnd(10)} ${seconds(progress.elapsedMs)}  ${audio}  ` +
        `sent ${progress.framesSent}  received ${progress.framesReceived}`;
      process.stderr.write(`\r\x1b[K${chalk.dim(line)}`);
    },
    done() {
      if (drawn) process.stderr.write('\r\x1b[K');
    },
  };
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

Exit codes: 0 healthy call, 1 a check failed, 2 bad usage or unreadable WAV, 130 interrupted.`;

async function runReplayAction(file: string, options: ReplayCliOptions): Promise<void> {
  if (options.saveAudio !== undefined) requireOutputFolder(options.saveAudio);

  const timing: CallTiming = options.burst ? { mode: 'burst' } : { mode: 'realtime', speed: options.speed };
  const progress = progressReporter(Boolean(process.stderr.isTTY) && !options.quiet);
  const hangUp = new AbortController();
  let interrupted = false;
  const onSigint = (): void => {
    // First Ctrl-C hangs up cleanly (stop, close, report); a second one kills as usual.
    interrupted = true;
    hangUp.abort();
  };
  process.once('SIGINT', onSigint);

  let report: ReplayReport;
  try {
    report = await runReplay({
      file,
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
      signal: hangUp.signal,
      onProgress: (p) => progress.update(p),
    });
  } catch (err) {
    progress.done();
    if (err instanceof WavInputError) {
      process.stderr.write(`callsim replay: ${err.file}: ${err.problem}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`callsim replay: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = EXIT_CHECK_FAILED;
    return;
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  progress.done();

  if (options.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`${formatReplayReport(report, options.quiet)}\n`);
  }
  if (report.savedAudio?.error) {
    process.stderr.write(`callsim replay: ${report.savedAudio.file}: ${report.savedAudio.error}\n`);
  }

  if (interrupted) process.exitCode = EXIT_INTERRUPTED;
  else if (report.verdict === 'fail') process.exitCode = EXIT_CHECK_FAILED;
  else if (report.savedAudio?.error) process.exitCode = EXIT_USAGE;
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
    .option('--save-audio <out.wav>', "write the agent's audio (everything the server sent) to a WAV file")
    .option('--quiet', 'print only the verdict and failures')
    .showHelpAfterError('(run "callsim replay --help" for usage)')
    .addHelpText('after', EXAMPLES)
    .action(async (file: string, options: ReplayCliOptions, cmd: Command) => {
      if (options.dtmfAt !== undefined && options.dtmf === undefined) {
        cmd.error("error: option '--dtmf-at <ms>' needs --dtmf <digits>");
      }
      await runReplayAction(file, options);
    });
  return command;
}
