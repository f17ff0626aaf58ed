// `callsim serve`: options, start-up banner and graceful shutdown. The server itself is media-server.ts.
import net from 'node:net';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger, type LogFormat, type LogLevel } from '../log.js';
import { DEFAULT_CALL_CONFIG, DEFAULT_VOICE, type FirstSpeaker } from '../server/call/config.js';
import type { ModelOptions, RunningMediaServer } from '../server/media-server.js';
import { MIN_CALLS_TOKEN_CHARS } from '../server/calls-token.js';
import { parseIntegerOption, UsageError } from './options.js';
import { parsePublicUrl } from '../twilio/signature.js';
import { styleFor } from '../text/style.js';

interface ServeOptions {
  host: string;
  port: number;
  logFormat: LogFormat;
  logLevel: LogLevel;
  modelBackend: 'simulator' | 'openai';
  simulatorUrl?: string;
  model?: string;
  openaiBaseUrl?: string;
  publicUrl?: string;
  maxCalls: number;
  callsEndpoint: boolean;
  callsLocalhostOnly?: boolean;
  trustProxy?: boolean;
  callsToken?: string;
  startTimeout: number;
  maxAwaitingStart: number;
  inboundFirstSpeaker: FirstSpeaker;
  outboundFirstSpeaker: FirstSpeaker;
  instructions?: string;
  voice: string;
  answerMs: number;
  modelBatchFrames: number;
  playoutChunkFrames: number;
  sendLeadMs: number;
  drainTimeout: number;
}

function callsTokenOption(value: string): string {
  if (value.length < MIN_CALLS_TOKEN_CHARS) throw new InvalidArgumentError(`must be at least ${MIN_CALLS_TOKEN_CHARS} characters.`);
  return value;
}

function publicUrlOption(value: string): string {
  try {
    parsePublicUrl(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
  return value;
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the Twilio Media Streams server, bridged to a realtime model (the embedded simulator by default)')
    .addOption(new Option('--host <host>', 'interface to listen on (0.0.0.0 to accept outside connections)').default('127.0.0.1'))
    .addOption(new Option('-p, --port <port>', 'port to listen on; 0 picks a free one').default(5050).env('PORT').argParser(parseIntegerOption('--port', 0, 65535)))
    .addOption(new Option('--model-backend <backend>', 'realtime model: the embedded simulator, or the OpenAI Realtime API (needs OPENAI_API_KEY)').choices(['simulator', 'openai']).default('simulator'))
    .option('--simulator-url <url>', 'use an already running `callsim simulator` (its baseURL, http://HOST:PORT/v1) instead of starting one in-process')
    .option('--model <name>', 'OpenAI realtime model (with --model-backend openai)')
    .option('--openai-base-url <url>', 'OpenAI API base URL (with --model-backend openai)')
    .addOption(new Option('--public-url <url>', 'public https URL Twilio reaches this server at: the TwiML <Stream> URL, and the URL signatures are checked against').argParser(publicUrlOption))
    .option('--trust-proxy', 'behind a reverse proxy: believe its X-Forwarded-Proto (the scheme Twilio used) and X-Forwarded-For (the client, for --calls-localhost-only)')
    .addOption(new Option('--max-calls <n>', 'refuse calls beyond this many at once').default(5000).argParser(parseIntegerOption('--max-calls', 1)))
    .addOption(new Option('--start-timeout <ms>', 'close a socket that sent no valid start this long after it connected (0 = never)').default(5000).argParser(parseIntegerOption('--start-timeout', 0)))
    .addOption(new Option('--max-awaiting-start <n>', 'sockets waiting for their start, at most; beyond it the oldest is closed (they hold no call slot)').default(1000).argParser(parseIntegerOption('--max-awaiting-start', 1)))
    .option('--no-calls-endpoint', 'do not serve GET /calls (call counters and errors)')
    .addOption(new Option('--calls-token <token>', `GET /calls needs "Authorization: Bearer <token>" (at least ${MIN_CALLS_TOKEN_CHARS} characters); required to read /calls when TWILIO_AUTH_TOKEN is set`).env('CALLSIM_CALLS_TOKEN').argParser(callsTokenOption))
    .option('--calls-localhost-only', 'serve GET /calls only to clients on this machine (loopback)')
    .addOption(new Option('--inbound-first-speaker <who>', 'who talks first on inbound calls').choices(['model', 'caller']).default('caller'))
    .addOption(new Option('--outbound-first-speaker <who>', 'who talks first on outbound calls (caller = the callee answers first)').choices(['model', 'caller']).default('model'))
    .addOption(new Option('--model-batch-frames <n>', 'caller frames per append to the model: 1 = lowest latency; 3 = about a third less CPU per frame for 40 ms more latency').default(1).argParser(parseIntegerOption('--model-batch-frames', 1, 10)))
    .addOption(new Option('--playout-chunk-frames <n>', "20 ms frames per media message to Twilio, at most: 5 = 100 ms chunks, a fifth of the writes of 1, no added latency (a chunk takes what is queued, never waits to fill)").default(DEFAULT_CALL_CONFIG.playoutChunkFrames).argParser(parseIntegerOption('--playout-chunk-frames', 1, 50)))
    .addOption(new Option('--send-lead-ms <ms>', "audio goes to Twilio once it is due within this many ms of real time: Twilio buffers what is sent ahead and a clear empties it").default(DEFAULT_CALL_CONFIG.sendLeadMs).argParser(parseIntegerOption('--send-lead-ms', 20, 60_000)))
    .option('--instructions <text>', 'system instructions for the model')
    .option('--voice <voice>', 'model voice', DEFAULT_VOICE)
    .addOption(new Option('--answer-ms <ms>', 'length of each simulated answer (simulator only)').default(1200).argParser(parseIntegerOption('--answer-ms', 20, 60_000)))
    .addOption(new Option('--drain-timeout <ms>', 'on SIGINT/SIGTERM, how long live calls may finish before they are closed (a second signal closes them now)').default(10_000).argParser(parseIntegerOption('--drain-timeout', 0)))
    .addOption(new Option('--log-format <format>', 'log lines on stderr').choices(['pretty', 'json']).default('pretty'))
    .addOption(new Option('--log-level <level>', 'least severe level logged').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .addHelpText(
      'after',
      `
Routes (one port):
  WS   /media            Twilio Media Streams (one call per connection)
  POST /twiml            TwiML <Connect><Stream> for a call (also /incoming-call); ?direction=outbound
  GET  /healthz          liveness
  GET  /calls            a page of live and recent calls, newest first (?limit=, up to 1000; next)
  GET  /calls/:callSid   one call: counters, direction, state, errors
  GET  /metrics          Prometheus metrics: calls, audio chunks, errors by code, latencies
                         (/calls and /metrics: off with --no-calls-endpoint, loopback only with
                         --calls-localhost-only, behind --calls-token)

With TWILIO_AUTH_TOKEN set, /media and /twiml require a valid X-Twilio-Signature (else 403),
and each stream's start must carry the one-use token /twiml put in its <Stream>. Behind a proxy
or tunnel, pass --public-url so the signed URL is the one Twilio used (without it, only a Host
that names this server itself is believed), and --trust-proxy to read X-Forwarded-Proto/-For.

Examples:
  $ npx callsim serve                          # simulator model, no key, no network
  $ npx callsim serve --port 0 --log-format json
  $ OPENAI_API_KEY=sk-... npx callsim serve --model-backend openai --host 0.0.0.0 --public-url https://agent.example.com`,
    )
    .action(async (opts: ServeOptions) => {
      await runServe(opts);
    });
}

/** A listen error as one line and what to do about it; null for any other error. */
export function startupError(err: unknown, host: string, port: number): UsageError | null {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (code) {
    case 'EADDRINUSE':
      return new UsageError(`cannot listen on ${where}: the port is in use`, '--port 0 picks a free one');
    case 'EACCES':
      return new UsageError(`cannot listen on ${where}: permission denied`, 'ports below 1024 need privileges; --port 0 picks a free one');
    case 'EADDRNOTAVAIL':
      return new UsageError(`cannot listen on ${where}: no such address on this machine`, '--host 127.0.0.1, or 0.0.0.0 for every interface');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new UsageError(`cannot listen on ${where}: the host name does not resolve`, '--host 127.0.0.1, or 0.0.0.0 for every interface');
    default:
      return null;
  }
}

async function runServe(opts: ServeOptions): Promise<void> {
  const apiKey = process.env.OPENAI_API_KEY ?? '';
  let model: ModelOptions;
  if (opts.modelBackend === 'openai') {
    if (!apiKey) throw new UsageError('--model-backend openai needs OPENAI_API_KEY in the environment');
    model = { backend: 'openai', apiKey, ...(opts.model ? { model: opts.model } : {}), ...(opts.openaiBaseUrl ? { baseURL: opts.openaiBaseUrl } : {}) };
  } else {
    model = { backend: 'simulator', simulator: { answerMs: opts.answerMs }, ...(opts.simulatorUrl ? { url: opts.simulatorUrl } : {}) };
  }
  const twilioAuthToken = process.env.TWILIO_AUTH_TOKEN ?? '';
  const secrets = [apiKey, twilioAuthToken, opts.callsToken ?? ''];
  const logger = createLogger({ format: opts.logFormat, level: opts.logLevel, secrets });

  // The usual start-up mistake (a port in use, an address not on this machine) is found by a
  // bind of our own before the model stack loads, so it is answered at once; the real listen
  // below still reports anything that changes in between.
  const unbindable = await probeListen(opts.host, opts.port);
  if (unbindable !== null) throw startupError(unbindable, opts.host, opts.port) ?? unbindable;

  let server: RunningMediaServer;
  try {
    // Loaded here, not at start-up: the server and its model stack are most of the CLI's load
    // time, and no other command (nor a usage error) needs them.
    const { startMediaServer } = await import('../server/media-server.js');
    server = await startMediaServer({
      host: opts.host,
      port: opts.port,
      logger,
      model,
      exposeCalls: opts.callsEndpoint,
      callsLocalOnly: opts.callsLocalhostOnly === true,
      trustProxy: opts.trustProxy === true,
      ...(opts.callsToken ? { callsToken: opts.callsToken } : {}),
      ...(twilioAuthToken ? { twilioAuthToken } : {}),
      maxCalls: opts.maxCalls,
      startTimeoutMs: opts.startTimeout,
      maxAwaitingStart: opts.maxAwaitingStart,
      ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
      call: {
        firstSpeaker: { inbound: opts.inboundFirstSpeaker, outbound: opts.outboundFirstSpeaker },
        voice: opts.voice,
        modelAppendFrames: opts.modelBatchFrames,
        playoutChunkFrames: opts.playoutChunkFrames,
        sendLeadMs: opts.sendLeadMs,
        ...(opts.instructions ? { instructions: opts.instructions } : {}),
      },
    });
  } catch (err) {
    // Nothing is left listening (startMediaServer closes what it started): say why in one line.
    throw startupError(err, opts.host, opts.port) ?? err;
  }

  process.stdout.write(
    `callsim serve listening on ${server.httpUrl}\n` +
      `  media stream: ${server.wsUrl}\n` +
      `  Twilio signatures: ${twilioAuthToken ? 'required (TWILIO_AUTH_TOKEN)' : 'not checked (set TWILIO_AUTH_TOKEN to require them)'}\n` +
      `  model: ${server.modelBackend === 'simulator' ? `realtime simulator (${server.simulator?.baseURL ?? opts.simulatorUrl ?? ''})` : 'OpenAI Realtime API'}\n`,
  );

  await new Promise<void>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals): void => {
      signals += 1;
      if (signals === 2) {
        logger.warn('closing live calls now', { signal, liveCalls: server.liveCalls() });
        void server.close(0);
        return;
      }
      if (signals > 2) {
        process.stderr.write(styleFor(process.stderr).red(`callsim serve: ${signal} a third time, exiting without closing calls\n`));
        process.exit(1);
      }
      logger.info('shutting down: no new calls; live calls may finish', { signal, liveCalls: server.liveCalls(), drainMs: opts.drainTimeout });
      void server.close(opts.drainTimeout).then(() => {
        const calls = server.calls();
        const totals = calls.reduce(
          (sum, c) => ({ in: sum.in + c.counters.audioInChunks, out: sum.out + c.counters.audioOutChunks, errors: sum.errors + c.errorCount }),
          { in: 0, out: 0, errors: 0 },
        );
        process.stdout.write(`callsim serve stopped: ${calls.length} calls, ${totals.in} audio chunks in, ${totals.out} out, ${totals.errors} call errors\n`);
        resolve();
      });
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The error binding host:port gives right now, or null when it can be bound (port 0 always can). */
function probeListen(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  if (port === 0) return Promise.resolve(null);
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(null)));
  });
}
