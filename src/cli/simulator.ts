// `callsim simulator`: the embedded realtime simulator on its own, for any OpenAI Realtime client.
import { Command, Option } from 'commander';
import { startRealtimeSimulator } from '../model/simulator/simulator.js';
import { parseIntegerOption } from './options.js';

export function simulatorCommand(): Command {
  return new Command('simulator')
    .description('run only the local realtime model simulator (OpenAI Realtime event protocol, g711 mu-law)')
    .option('--host <host>', 'interface to listen on', '127.0.0.1')
    .addOption(new Option('-p, --port <port>', 'port; 0 picks a free one').default(0).argParser(parseIntegerOption('--port', 0, 65535)))
    .addOption(new Option('--answer-ms <ms>', 'length of each spoken answer').default(1200).argParser(parseIntegerOption('--answer-ms', 20, 60_000)))
    .addHelpText(
      'after',
      `
Point an OpenAI SDK client at it with baseURL http://HOST:PORT/v1 (the realtime client dials /v1/realtime).

Example:
  $ npx callsim simulator --port 8089`,
    )
    .action(async (opts: { host: string; port: number; answerMs: number }) => {
      const sim = await startRealtimeSimulator({ host: opts.host, port: opts.port, answerMs: opts.answerMs });
      process.stdout.write(`callsim simulator listening on ws://${opts.host}:${sim.port}/v1/realtime (baseURL ${sim.baseURL})\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => void sim.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
