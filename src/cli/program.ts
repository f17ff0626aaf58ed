// src/cli/: the callsim program (this file) and one file per command, the option parsers they
// share (options.ts) and the exit codes (exit-codes.ts). The only folder that reads argv, sets
// process.exitCode or prints usage errors; it may import every other folder, and none imports it.
import { Command, CommanderError } from 'commander';
import chalk from 'chalk';
import { readFileSync } from 'node:fs';
import { UsageError, packageFile } from './options.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { serveCommand } from './serve.js';
import { simulatorCommand } from './simulator.js';
import { replayCommand } from './replay.js';
import { gateCommand } from './gate.js';
import { loadCommand } from './load.js';

const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command('callsim')
    .description('Call-testing harness and simulator for voice-AI phone agents on Twilio Media Streams')
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Examples:
  $ npx callsim serve                                         # media server + embedded realtime model
  $ npx callsim replay --direction outbound fixtures/hello-8k-mulaw.wav
  $ npx callsim gate --junit gate.xml                         # pre-deploy gate for CI`,
    );
  program.addCommand(serveCommand());
  program.addCommand(replayCommand());
  program.addCommand(gateCommand());
  program.addCommand(loadCommand());
  program.addCommand(simulatorCommand());
  // addCommand() does not pass these settings down, so every command gets them here.
  for (const command of [program, ...program.commands]) command.exitOverride();
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every usage error exits 2 (commander says 1).
      process.exitCode = err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      return;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`${chalk.red('callsim:')} ${err.message}\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`${chalk.red('callsim: unexpected error:')} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = EXIT_CHECK_FAILED;
  }
}
