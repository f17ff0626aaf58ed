// Text fitted to columns as it shows on screen: ANSI colour escapes take no columns.

const ANSI_SGR = /\u001b\[[0-9;]*m/g;
const ANSI_SGR_AT = /\u001b\[[0-9;]*m/y;
const RESET = '\u001b[0m';
const ELLIPSIS = '…';

export function visibleLength(text: string): number {
  return text.replace(ANSI_SGR, '').length;
}

export function padEndVisible(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - visibleLength(text)));
}

export function padStartVisible(text: string, width: number): string {
  return ' '.repeat(Math.max(0, width - visibleLength(text))) + text;
}

/**
 * `text` cut to at most `width` visible columns, ending in "…" when cut. Colour escapes are kept
 * whole, and a cut string that had any ends with a reset, so no colour leaks past it.
 */
export function truncateVisible(text: string, width: number): string {
  if (visibleLength(text) <= width) return text;
  const keep = Math.max(0, width - 1);
  let out = '';
  let shown = 0;
  let coloured = false;
  for (let i = 0; i < text.length && shown < keep; ) {
    ANSI_SGR_AT.lastIndex = i;
    const escape = ANSI_SGR_AT.exec(text);
    if (escape !== null) {
      out += escape[0];
      coloured = true;
      i += escape[0].length;
      continue;
    }
    // A surrogate pair is one character: never cut between its halves.
    const char = String.fromCodePoint(text.codePointAt(i) ?? 0);
    out += char;
    shown += char.length;
    i += char.length;
  }
  return `${out}${width > 0 ? ELLIPSIS : ''}${coloured ? RESET : ''}`;
}
