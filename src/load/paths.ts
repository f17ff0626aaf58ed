// Files of the installed package (the CLI launcher, the compiled worker), found by walking up from
// this module: it sits at another depth when built (dist/src/load) than in the sources (src/load).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('callsim: cannot find its own package.json');
    dir = parent;
  }
  return dir;
}
