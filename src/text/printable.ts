// Text from a peer (a callSid, a close reason, an error a server wrote) made safe to print on a
// terminal or in a log line: it can no longer start a new line, move the cursor, set the window
// title or reorder what is shown, so nothing a server or caller sends can forge output.

// C0 controls (tab included: it can fake alignment), DEL, C1 controls, the Unicode line and
// paragraph separators, the bidirectional marks, overrides and isolates, and the noncharacters
// U+FFFE/U+FFFF (no text carries them; XML cannot).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]/g;

/** `text` with every unsafe character written as a visible escape (\n, \x1b, \u2028). */
export function printable(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/** printable(text), cut to at most `maxChars` characters (with an ellipsis when cut). */
export function printableExcerpt(text: string, maxChars: number): string {
  // Cut before escaping too: a 64 kB string is not escaped whole to keep 200 characters of it.
  const safe = printable(text.length > maxChars ? text.slice(0, maxChars) : text);
  return safe.length > maxChars || text.length > maxChars ? `${safe.slice(0, maxChars)}…` : safe;
}

function escapeChar(c: string): string {
  switch (c) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default: {
      const code = c.charCodeAt(0);
      return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    }
  }
}
