// `callsim simulator` as a user runs it: it prints its plain and TLS URLs and the CA path, an
// agent connects over TLS with that CA, the session records are served, SIGTERM stops it and
// removes the CA file; a bad script is a usage error (exit 2) with line numbers.
import { spawn, execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RawRealtime } from './agents/raw-realtime.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function assertBuilt(): void {
  for (const folder of ['src/cli', 'src/model/simulator']) {
    for (const name of readdirSync(join(ROOT, folder)).filter((f) => f.endsWith('.ts'))) {
      const built = join(ROOT, 'dist', folder, name.replace(/\.ts$/, '.js'));
      if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(ROOT, folder, name)).mtimeMs) throw new Error(`dist/${folder}/${name} is stale: run \`npm run build\` first`);
    }
  }
}

describe('callsim simulator (child process)', () => {
  it('prints its URLs and CA path, serves TLS with that CA, and cleans up on SIGTERM', async () => {
    assertBuilt();
    const child = spawn(process.execPath, [join(ROOT, 'bin/callsim.js'), 'simulator', '--json'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    const urls = JSON.parse(line) as { baseURL: string; tlsBaseURL: string; realtimeURL: string; tlsRealtimeURL: string; caPath: string; sessionsURL: string };
    expect(urls.baseURL).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(urls.tlsBaseURL).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/v1$/);
    expect(urls.tlsRealtimeURL).toBe(`${urls.tlsBaseURL.replace('https', 'wss')}/realtime`);
    const ca = readFileSync(urls.caPath, 'utf8');
    expect(ca).toContain('BEGIN CERTIFICATE');
    const rt = await RawRealtime.open(`${urls.tlsRealtimeURL}?model=gpt-realtime`, { ca, headers: { 'x-callsim-call-sid': 'CAcli' } });
    expect((await rt.next('session.created')).type).toBe('session.created');
    await rt.close();
    const { sessions } = (await (await fetch(`${urls.sessionsURL}?callSid=CAcli`)).json()) as { sessions: Array<{ transport: string }> };
    expect(sessions.map((s) => s.transport)).toEqual(['wss']);
    // Without the CA, TLS refuses: the certificate is not trusted by default.
    await expect(RawRealtime.open(`${urls.tlsRealtimeURL}?model=gpt-realtime`)).rejects.toThrow(/certificate/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(urls.caPath)).toBe(false);
  });

  it('a bad script is a usage error naming each problem by line', async () => {
    assertBuilt();
    const result = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(process.execPath, [join(ROOT, 'bin/callsim.js'), 'simulator', '--script', 'test/fixtures/scripts/bad.yaml'], { cwd: ROOT, env: { ...process.env, FORCE_COLOR: '0' } }, (err, _stdout, stderr) =>
        resolve({ code: err ? Number(err.code) : 0, stderr }),
      ),
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/bad\.yaml:2:\d+: turns\.0\.latencyMs/);
  });
});
