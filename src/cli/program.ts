// src/cli/: the callsim program (this file) and one file per command, the option parsers they
// share (options.ts), the exit codes (exit-codes.ts) and the signal handling of the commands that
// write reports (signals.ts). The only folder that reads argv, sets process.exitCode or prints
// usage errors; it may import every other folder, and none imports it.
//
// Every error the program prints is one line under one prefix, `callsim <command>:` (`callsim:`
// before a command is known), and a usage error ends with where the help is.
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { UsageError, packageFile } from './options.js';
import { EXIT_CHECK_FAILED, EXIT_OK, EXIT_USAGE } from './exit-codes.js';
import { serveCommand } from './serve.js';
import { simulatorCommand } from './simulator.js';
import { replayCommand } from './replay.js';
import { gateCommand } from './gate.js';
import { loadCommand } from './load.js';
import { initCommand } from './init.js';
import { printable } from '../text/printable.js';
import { styleFor } from '../text/style.js';

const pkg = JSON.parse(readFileSync(packageFile('package.json'), 'utf8')) as { version: string };

/** "callsim gate" for the gate, "callsim" for the program itself. */
function commandName(command: Command): string {
  return command.parent === null ? command.name() : `callsim ${command.name()}`;
}

function helpHint(name: string): string {
  return `run "${name} --help" for usage`;
}

export function buildProgram(): Command {
  const program = new Command('callsim')
    .description('Call-testing harness and simulator for voice-AI phone agents on Twilio Media Streams')
    .version(pkg.version)
    .addHelpText(
      'after',
      `
Examples:
  $ npx callsim init                                          # a config, a CI workflow, a scenarios/ folder
  $ npx callsim serve                                         # media server + embedded realtime model
  $ npx callsim replay --direction outbound fixtures/hello-8k-mulaw.wav
  $ npx callsim gate --junit gate.xml --html gate.html        # pre-deploy gate for CI`,
    );
  program.addCommand(initCommand());
  program.addCommand(serveCommand());
  program.addCommand(replayCommand());
  program.addCommand(gateCommand());
  program.addCommand(loadCommand());
  program.addCommand(simulatorCommand());
  // addCommand() does not pass these settings down, so every command gets them here.
  for (const command of [program, ...program.commands]) {
    const name = commandName(command);
    command.exitOverride();
    command.configureOutput({
      // commander's "error: unknown option '--x'" under our one prefix, with where the help is.
      outputError: (text, write) => write(`${styleFor(process.stderr).red(`${name}:`)} ${text.replace(/^error: /, '').trimEnd()} (${helpHint(name)})\n`),
    });
  }
  return program;
}

/** The command argv names ("gate" in `callsim gate --x`), or null before one is known. */
function invokedCommand(program: Command, argv: readonly string[]): Command | null {
  const first = argv.slice(2).find((arg) => !arg.startsWith('-'));
  return program.commands.find((command) => command.name() === first) ?? null;
}

/**
 * A reader that went away (`callsim gate --json | head`) is not an error of the run: what it no
 * longer reads is dropped, and the command finishes as it would (a server it started is still
 * stopped, its reports still written), instead of dying on an unhandled EPIPE.
 */
function ignoreClosedReaders(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    });
  }
}

export async function main(argv: string[]): Promise<void> {
  ignoreClosedReaders();
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version exit 0; every usage error exits 2 (commander says 1).
      process.exitCode = err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
      return;
    }
    const name = commandName(invokedCommand(program, argv) ?? program);
    const style = styleFor(process.stderr);
    if (err instanceof UsageError) {
      process.stderr.write(`${style.red(`${name}:`)} ${printable(err.message)} (${err.hint ?? helpHint(name)})\n`);
      process.exitCode = EXIT_USAGE;
      return;
    }
    process.stderr.write(`${style.red(`${name}: unexpected error:`)} ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = EXIT_CHECK_FAILED;
  }
}
