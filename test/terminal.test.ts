// Terminal conventions: colours follow NO_COLOR and FORCE_COLOR (text/style.ts), checked on the
// real CLI under a real pseudo-terminal (util-linux `script`), where colours are on by default.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { colourEnabled } from '../src/text/style.js';

const FIXTURE = 'fixtures/hello-8k-mulaw.wav';
const ESC = '\u001b';

/** The CLI run under a pseudo-terminal: stdout and stderr are a TTY, as in a person's shell. */
function onTerminal(args: string, env: Record<string, string | undefined>): { code: number | null; output: string } {
  const run = spawnSync('script', ['-qefc', `${process.execPath} bin/callsim.js ${args}`, '/dev/null'], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, NODE_DISABLE_COLORS: undefined, TERM: 'xterm-256color', ...env },
    timeout: 60_000,
  });
  if (run.error) throw run.error;
  return { code: run.status, output: run.stdout };
}

/** The CLI with stdout and stderr piped (a CI log). */
function piped(args: string, env: Record<string, string | undefined>): { code: number | null; output: string } {
  const run = spawnSync(process.execPath, ['bin/callsim.js', ...args.split(' ')], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, NODE_DISABLE_COLORS: undefined, ...env },
    timeout: 60_000,
  });
  return { code: run.status, output: run.stdout + run.stderr };
}

describe('colours (text/style.ts)', () => {
  const tty = { isTTY: true };
  const pipe = { isTTY: false };
  it('on a terminal by default; never on a pipe or a dumb terminal unless forced', () => {
    expect(colourEnabled(tty, {})).toBe(true);
    expect(colourEnabled(pipe, {})).toBe(false);
    expect(colourEnabled(tty, { TERM: 'dumb' })).toBe(false);
  });

  it('NO_COLOR (not empty) and NODE_DISABLE_COLORS turn them off; an empty NO_COLOR does not (no-color.org)', () => {
    expect(colourEnabled(tty, { NO_COLOR: '1' })).toBe(false);
    expect(colourEnabled(tty, { NO_COLOR: 'false' })).toBe(false);
    expect(colourEnabled(tty, { NO_COLOR: '' })).toBe(true);
    expect(colourEnabled(tty, { NODE_DISABLE_COLORS: '1' })).toBe(false);
  });

  it('FORCE_COLOR turns them on anywhere (0 or false: off), and wins over NO_COLOR as in Node', () => {
    expect(colourEnabled(pipe, { FORCE_COLOR: '1' })).toBe(true);
    expect(colourEnabled(pipe, { FORCE_COLOR: '' })).toBe(true);
    expect(colourEnabled(tty, { FORCE_COLOR: '0' })).toBe(false);
    expect(colourEnabled(tty, { FORCE_COLOR: 'false' })).toBe(false);
    expect(colourEnabled(pipe, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(true);
  });
});

describe('the CLI on a terminal', () => {
  const replay = `replay --burst --tail 200 ${FIXTURE}`;

  it('colours its report and progress by default (the check below can fail)', () => {
    const run = onTerminal(replay, {});
    expect(run.code).toBe(0);
    expect(run.output).toContain('PASS');
    expect(run.output).toContain(`${ESC}[`);
  });

  it('with NO_COLOR=1 writes not one escape code, progress line included', () => {
    const run = onTerminal(replay, { NO_COLOR: '1' });
    expect(run.code).toBe(0);
    expect(run.output).toContain('PASS');
    expect(run.output).not.toContain(ESC);
  });

  it('FORCE_COLOR=0 on a terminal: none either; FORCE_COLOR=1 through a pipe: colours', () => {
    expect(onTerminal(replay, { FORCE_COLOR: '0' }).output).not.toContain(ESC);
    const forced = piped(replay, { FORCE_COLOR: '1' });
    expect(forced.code).toBe(0);
    expect(forced.output).toContain(`${ESC}[`);
    expect(piped(replay, {}).output).not.toContain(ESC);
  });
});

describe('a reader that goes away', () => {
  /** `callsim ARGS | head -c 1`: the reader closes the pipe after one byte; callsim's own exit code is kept. */
  function intoHead(args: string): { code: string; stderr: string } {
    const run = spawnSync('bash', ['-c', `${process.execPath} bin/callsim.js ${args} | head -c 1 > /dev/null; echo "\${PIPESTATUS[0]}"`], { encoding: 'utf8', timeout: 60_000 });
    return { code: run.stdout.trim(), stderr: run.stderr };
  }

  it('is not a crash: the command finishes with its own exit code and no EPIPE trace', () => {
    const replay = intoHead(`replay ${FIXTURE} --burst --json --timeline`);
    expect(replay.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(replay.code).toBe('0');
    const help = intoHead('gate --help');
    expect(help.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(help.code).toBe('0');
  });
});
