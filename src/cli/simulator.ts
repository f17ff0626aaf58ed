// `callsim simulator`: the realtime model simulator on its own, for any OpenAI Realtime client:
// plain ws and TLS, a CA to trust, an optional model script and transcript manifest.
import { Command, Option } from 'commander';
import type { LoadedModelScript, RunningSimulator } from '../model/simulator/simulator.js';
import type { TranscriptIndex } from '../model/simulator/transcripts.js';
import { UsageError, parseIntegerOption } from './options.js';

interface SimulatorCliOptions {
  host: string;
  port: number;
  tlsPort: number;
  tls: boolean;
  answerMs: number;
  script?: string;
  transcripts?: string;
  apiKey?: string;
  json?: boolean;
}

/** What the simulator prints at start: the URLs and CA path a user (or the gate) hands an agent. */
export function describeSimulator(sim: RunningSimulator): Record<string, string | null> {
  return {
    baseURL: sim.baseURL,
    tlsBaseURL: sim.tlsBaseURL,
    realtimeURL: sim.realtimeURL,
    tlsRealtimeURL: sim.tlsRealtimeURL,
    caPath: sim.caPath,
    sessionsURL: sim.sessionsURL,
  };
}

export function simulatorCommand(): Command {
  return new Command('simulator')
    .description('run only the realtime model simulator: an OpenAI Realtime (GA) stand-in on plain ws and TLS')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .addOption(new Option('-p, --port <port>', 'plain HTTP/ws port; 0 picks a free one').default(0).argParser(parseIntegerOption('--port', 0, 65535)))
    .addOption(new Option('--tls-port <port>', 'TLS (https/wss) port; 0 picks a free one').default(0).argParser(parseIntegerOption('--tls-port', 0, 65535)))
    .option('--no-tls', 'serve plain ws only')
    .addOption(new Option('--answer-ms <ms>', 'length of each spoken answer a script does not set').default(1200).argParser(parseIntegerOption('--answer-ms', 20, 600_000)))
    .option('--script <file>', 'model script (JSON or YAML, schemas/model-script.schema.json): what the model does each turn')
    .option('--transcripts <file>', 'manifest of fixture clips and their words, for input transcription')
    .option('--api-key <key>', 'accept only this API key (default: any non-empty key)')
    .option('--json', 'print the URLs as one JSON line instead of text')
    .addHelpText(
      'after',
      `
Point an unmodified agent at it over TLS (the CA path is printed at start):
  NODE_EXTRA_CA_CERTS=<ca.pem> OPENAI_BASE_URL=https://127.0.0.1:<tls-port>/v1 node agent.js
  SSL_CERT_FILE=<ca.pem> python3 agent.py          # a Python client: wss://127.0.0.1:<tls-port>/v1/realtime
or over plain ws: ws://127.0.0.1:<port>/v1/realtime?model=gpt-realtime with Authorization: Bearer <any key>.
Session records: GET http://127.0.0.1:<port>/v1/callsim/sessions

Examples:
  $ npx callsim simulator --port 8089 --tls-port 8443
  $ npx callsim simulator --script turns.yaml --transcripts fixtures/transcripts.yaml`,
    )
    .action(async (opts: SimulatorCliOptions) => {
      // Loaded when this command runs, not when the CLI starts.
      const { ModelScriptError, loadModelScript, startRealtimeSimulator } = await import('../model/simulator/simulator.js');
      const { TranscriptIndex } = await import('../model/simulator/transcripts.js');
      let script: LoadedModelScript | undefined;
      let transcripts: TranscriptIndex | undefined;
      try {
        if (opts.script !== undefined) script = loadModelScript(opts.script);
        if (opts.transcripts !== undefined) transcripts = TranscriptIndex.load(opts.transcripts);
      } catch (err) {
        throw new UsageError(err instanceof ModelScriptError ? err.message : `--transcripts: ${err instanceof Error ? err.message : String(err)}`);
      }
      const sim = await startRealtimeSimulator({
        host: opts.host, port: opts.port, tlsPort: opts.tlsPort, tls: opts.tls, answerMs: opts.answerMs,
        ...(script ? { script } : {}), ...(transcripts ? { transcripts } : {}), ...(opts.apiKey !== undefined ? { apiKey: opts.apiKey } : {}),
      });
      const urls = describeSimulator(sim);
      if (opts.json) process.stdout.write(`${JSON.stringify(urls)}\n`);
      else {
        process.stdout.write(`callsim simulator listening\n`);
        for (const [name, value] of Object.entries(urls)) if (value !== null) process.stdout.write(`  ${name.padEnd(15)} ${value}\n`);
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => void sim.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
