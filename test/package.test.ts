// The package as npm would ship it and a new user would start with it: the tarball's contents
// (no bench, no source maps, no generator sources), the JSON Schema it ships equal to the one the
// CLI's own validator gives, and `callsim init` in an empty folder followed by `callsim gate`.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { CONFIG_SCHEMA_PATH, configJsonSchemaText, GATE_KEY_DESCRIPTIONS } from '../src/cli/config-schema.js';
import { initialConfig, SCHEMA_REFERENCE } from '../src/cli/init.js';
import { GATE_CONFIG_SCHEMA, validateGateConfig } from '../src/gate/config.js';

const ROOT = process.cwd();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'callsim-package-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface PackedFile {
  path: string;
  size: number;
}

function packList(): { files: PackedFile[]; size: number; unpackedSize: number } {
  const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const [pack] = JSON.parse(out) as Array<{ files: PackedFile[]; size: number; unpackedSize: number }>;
  if (!pack) throw new Error('npm pack listed nothing');
  return pack;
}

function cli(args: string[], cwd: string): { code: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [path.join(ROOT, 'bin/callsim.js'), ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', GITHUB_ACTIONS: undefined }, timeout: 170_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('the npm tarball', () => {
  const pack = packList();
  const paths = pack.files.map((f) => f.path);

  it('has the CLI, the built library with its types, the fixtures, the schema, the templates and the licence', () => {
    for (const file of ['LICENSE', 'README.md', 'package.json', 'bin/callsim.js', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/cli/program.js', CONFIG_SCHEMA_PATH, 'templates/github/callsim.yml', 'templates/scenarios/README.md', 'fixtures/hello-8k-mulaw.wav', 'fixtures/scenarios/barge-in.yaml', 'fixtures/speech/mm-hmm.wav']) {
      expect(paths).toContain(file);
    }
  });

  it('has no bench code, no source maps, no TypeScript sources, no generator, no tests, no invalid fixtures', () => {
    const unwanted = paths.filter((p) => p.startsWith('dist/bench/') || p.startsWith('dist/fixtures/') || p.endsWith('.map') || (p.endsWith('.ts') && !p.endsWith('.d.ts')) || p.startsWith('src/') || p.startsWith('test/') || p.startsWith('bench/') || p.includes('/invalid/'));
    expect(unwanted).toEqual([]);
    // Every file the package's own code reads at run time is in it.
    const js = paths.filter((p) => p.endsWith('.js'));
    expect(js.every((p) => p.startsWith('dist/src/') || p === 'bin/callsim.js')).toBe(true);
  });

  // Most of it is the code and its types (the public API) and the three WAV fixtures the gate
  // runs by default (the 44.1 kHz stereo one alone is 291 KB and does not compress); the bound
  // catches what should not be there (maps, bench, sources), not growth of the code.
  it('is small: under 700 KB packed', () => {
    expect(pack.size).toBeLessThan(700 * 1024);
  });

  it('package.json says where it comes from, what it is about, and what it exports', () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { license: string; repository: { url: string }; keywords: string[]; exports: Record<string, unknown>; types: string };
    expect(pkg.license).toBe('MIT');
    expect(readFileSync(path.join(ROOT, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    expect(pkg.repository.url).toMatch(/^git\+https:\/\//);
    expect(pkg.keywords).toEqual(expect.arrayContaining(['twilio', 'media-streams']));
    expect(pkg.exports['.']).toEqual({ types: './dist/src/index.d.ts', import: './dist/src/index.js' });
    expect(paths).toContain(pkg.types.replace(/^\.\//, ''));
  });
});

describe('the config JSON Schema', () => {
  it('the shipped file is what the validator gives (run `npm run schema` after changing gate/config.ts)', () => {
    expect(readFileSync(path.join(ROOT, CONFIG_SCHEMA_PATH), 'utf8')).toBe(configJsonSchemaText());
  });

  it('describes every gate key, for the editor’s hover', () => {
    const schema = JSON.parse(configJsonSchemaText()) as { properties: { gate: { properties: Record<string, { description?: string }> } } };
    const keys = Object.keys(GATE_CONFIG_SCHEMA.shape);
    expect(Object.keys(schema.properties.gate.properties)).toEqual(keys);
    expect(Object.keys(GATE_KEY_DESCRIPTIONS).sort()).toEqual([...keys].sort());
    for (const key of keys) expect(schema.properties.gate.properties[key]?.description).toBeTruthy();
  });

  it('$schema in the config init writes points at the shipped file inside node_modules', () => {
    expect(SCHEMA_REFERENCE).toBe(`./node_modules/callsim/${CONFIG_SCHEMA_PATH}`);
    const config = initialConfig('node server.js');
    expect(validateGateConfig('callsim.config.json', config)).toEqual(config.gate);
  });
});

describe('callsim init', () => {
  it('in an empty folder writes the config, the workflow and scenarios/; then `callsim gate` there passes', () => {
    const project = path.join(tmp, 'new-project');
    mkdirSync(project);
    const init = cli(['init'], project);
    expect(init.code).toBe(0);
    expect(init.stdout.split('\n').slice(0, 3)).toEqual([
      'callsim init: wrote callsim.config.json',
      'callsim init: wrote .github/workflows/callsim.yml',
      'callsim init: wrote scenarios/README.md',
    ]);
    const config = JSON.parse(readFileSync(path.join(project, 'callsim.config.json'), 'utf8')) as { $schema: string; gate: Record<string, unknown> };
    expect(config.$schema).toBe(SCHEMA_REFERENCE);
    expect(config.gate.serverCmd).toBeUndefined();
    expect(readFileSync(path.join(project, 'scenarios/README.md'), 'utf8')).toContain('PLACEHOLDER');

    const workflow = parseYaml(readFileSync(path.join(project, '.github/workflows/callsim.yml'), 'utf8')) as { jobs: { gate: { steps: Array<{ run?: string; uses?: string; if?: string; with?: Record<string, string> }> } } };
    const steps = workflow.jobs.gate.steps;
    expect(steps.find((s) => s.run?.includes('npx callsim gate'))?.run).toMatch(/--html callsim-report\/report\.html --junit callsim-report\/junit\.xml --json callsim-report\/gate\.json/);
    expect(steps.find((s) => s.uses?.startsWith('actions/upload-artifact@'))).toMatchObject({ if: 'always()', with: { path: 'callsim-report/' } });

    // The whole default matrix (every shipped fixture × both directions × all three timings), as a new user runs it.
    const gate = cli(['gate'], project);
    expect(gate.stderr).toContain("callsim gate: fixtures: callsim's own 3 WAVs");
    expect(gate.stdout.split('\n').at(-2)).toMatch(/^GATE PASSED 18\/18 calls passed against built-in callsim serve/);
    expect(gate.code).toBe(0);
  }, 180_000);

  it('keeps what exists unless --force, and writes --server-cmd into the config', () => {
    const project = path.join(tmp, 'existing');
    mkdirSync(project);
    writeFileSync(path.join(project, 'callsim.config.json'), '{ "gate": { "concurrency": 2 } }\n');
    const kept = cli(['init', '--server-cmd', 'python3 app.py --port {port}'], project);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain('callsim init: kept (it exists; --force replaces it) callsim.config.json');
    expect(readFileSync(path.join(project, 'callsim.config.json'), 'utf8')).toBe('{ "gate": { "concurrency": 2 } }\n');
    const forced = cli(['init', '--force', '--server-cmd', 'python3 app.py --port {port}'], project);
    expect(forced.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(project, 'callsim.config.json'), 'utf8'))).toMatchObject({ gate: { serverCmd: 'python3 app.py --port {port}' } });
    const missing = cli(['init', '--dir', path.join(tmp, 'nowhere')], project);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^callsim init: .*nowhere: no such folder \(run "callsim init --help" for usage\)\n$/);
  });
});
