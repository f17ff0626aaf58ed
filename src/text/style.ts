// Colours for one output stream, decided the way the conventions say: FORCE_COLOR turns them on
// ("0" or "false" turns them off) and wins over NO_COLOR, as in Node's own
// tty.WriteStream#getColorDepth; NO_COLOR (https://no-color.org: present and not empty) or
// NODE_DISABLE_COLORS turns them off; otherwise only a TTY whose TERM is not "dumb" gets them.
// Node's util.styleText paints; the decision is ours because Node 20's styleText does not make it
// consistently (it checks process.stdout for one format and nothing for an array of them).
import { styleText } from 'node:util';

export interface Style {
  /** Whether this style writes escape codes at all. */
  readonly enabled: boolean;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
  gray(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

type Format = 'red' | 'green' | 'yellow' | 'cyan' | 'gray' | 'dim' | 'bold';
const FORMATS: readonly Format[] = ['red', 'green', 'yellow', 'cyan', 'gray', 'dim', 'bold'];

function makeStyle(enabled: boolean): Style {
  const paint = (format: Format) => (enabled ? (text: string) => styleText(format, text, { validateStream: false }) : (text: string) => text);
  const style = { enabled } as { enabled: boolean } & Record<Format, (text: string) => string>;
  for (const format of FORMATS) style[format] = paint(format);
  return style;
}

/** No escape codes: files, pipes, NO_COLOR. */
export const PLAIN: Style = makeStyle(false);
/** Always escape codes (FORCE_COLOR, tests). */
export const COLOUR: Style = makeStyle(true);

/** Whether `stream` should get colours under `env`. */
export function colourEnabled(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if ((env.NO_COLOR !== undefined && env.NO_COLOR !== '') || env.NODE_DISABLE_COLORS !== undefined) return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** The style for writing to `stream`. */
export function styleFor(stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  return colourEnabled(stream, env) ? COLOUR : PLAIN;
}
