// `callsim init`: what a project needs to run the gate in CI, written into a folder: a
// callsim.config.json whose `$schema` is the JSON Schema the package ships (so an editor checks
// and completes it), a GitHub Actions workflow that runs the gate and keeps its reports, and a
// scenarios/ folder. An existing file is kept unless --force: init never clobbers a config.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { CONFIG_FILE, validateGateConfig, type GateConfig } from '../gate/config.js';
import { CONFIG_SCHEMA_PATH } from './config-schema.js';
import { packageFile, UsageError } from './options.js';

/** Where `$schema` points: the schema inside the installed package, relative to the config file. */
export const SCHEMA_REFERENCE = `./node_modules/callsim/${CONFIG_SCHEMA_PATH}`;
export const WORKFLOW_FILE = '.github/workflows/callsim.yml';
export const SCENARIOS_README = 'scenarios/README.md';

/**
 * Example scenarios init writes into scenarios/, as [file, template] pairs. Empty until the
 * scenario format exists (the conversations issue): its examples go here, and into templates/scenarios/.
 */
const SCENARIO_EXAMPLES: ReadonlyArray<readonly [string, string]> = [];

interface InitOptions {
  dir: string;
  serverCmd?: string;
  force?: boolean;
}

/** The config init writes: the gate's defaults spelt out, so the knobs are in view. */
export function initialConfig(serverCmd: string | undefined): { $schema: string; gate: GateConfig } {
  const gate: GateConfig = {
    directions: ['inbound', 'outbound'],
    timings: ['realtime', 'burst', 'early-media'],
    speed: 1,
    concurrency: 4,
    ...(serverCmd !== undefined ? { serverCmd } : {}),
  };
  // The same validator the gate reads it with: init never writes a config the gate refuses.
  validateGateConfig(CONFIG_FILE, { gate });
  return { $schema: SCHEMA_REFERENCE, gate };
}

type Outcome = 'wrote' | 'kept';

function writeOnce(file: string, text: string, force: boolean): Outcome {
  if (existsSync(file) && !force) return 'kept';
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return 'wrote';
}

export function runInit(options: InitOptions, out: (line: string) => void): void {
  const dir = path.resolve(options.dir);
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new UsageError(`${options.dir}: no such folder`);
  }
  if (!isDir) throw new UsageError(`${options.dir}: not a folder`);
  if (options.serverCmd !== undefined && options.serverCmd.trim() === '') throw new UsageError('--server-cmd: the command is empty');
  const force = options.force === true;
  const files: Array<[string, string]> = [
    [CONFIG_FILE, `${JSON.stringify(initialConfig(options.serverCmd), null, 2)}\n`],
    [WORKFLOW_FILE, readFileSync(packageFile('templates/github/callsim.yml'), 'utf8')],
    [SCENARIOS_README, readFileSync(packageFile('templates/scenarios/README.md'), 'utf8')],
    ...SCENARIO_EXAMPLES.map(([file, template]): [string, string] => [`scenarios/${file}`, readFileSync(packageFile(`templates/scenarios/${template}`), 'utf8')]),
  ];
  for (const [file, text] of files) {
    const outcome = writeOnce(path.join(dir, file), text, force);
    out(`callsim init: ${outcome === 'wrote' ? 'wrote' : 'kept (it exists; --force replaces it)'} ${file}`);
  }
  out(
    options.serverCmd !== undefined
      ? 'next: npx callsim gate   (starts your server with gate.serverCmd for each run)'
      : "next: npx callsim gate   (against callsim's built-in server until gate.serverCmd or gate.url in callsim.config.json names yours)",
  );
}

export function initCommand(): Command {
  return new Command('init')
    .description('write a callsim.config.json (with its JSON Schema), a GitHub Actions workflow that runs the gate and keeps its reports, and a scenarios/ folder')
    .option('--dir <folder>', 'the project folder to write into', '.')
    .option('--server-cmd <command>', 'the command that starts your server, written as gate.serverCmd (it gets PORT and {port})')
    .option('--force', 'replace files that exist')
    .addHelpText(
      'after',
      `
Files (kept when they exist, unless --force):
  ${CONFIG_FILE}              the gate's settings; "$schema" is ${SCHEMA_REFERENCE}
  ${WORKFLOW_FILE}   runs the gate on push and pull requests, uploads callsim-report/
  ${SCENARIOS_README}             where scripted conversations will go

Examples:
  $ npx callsim init
  $ npx callsim init --server-cmd "node server.js"
  $ npx callsim init --server-cmd "python3 app.py --port {port}" --dir services/agent`,
    )
    .action((opts: InitOptions) => {
      runInit(opts, (line) => process.stdout.write(`${line}\n`));
    });
}
