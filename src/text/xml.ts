// src/text/: plain-text helpers any layer may use (the TwiML builder, the reporters): XML
// escaping and padding by visible width. Nothing here imports from the rest of callsim.

/**
 * Everything XML 1.0 cannot carry, escaped or not (its `Char` production: TAB, LF, CR,
 * U+0020–U+D7FF, U+E000–U+FFFD, U+10000–U+10FFFF): the other C0 controls, U+FFFE, U+FFFF and
 * lone surrogates. With the `u` flag a well-formed surrogate pair is one code point and stays.
 */
const NOT_XML_CHAR = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

const ENTITIES: Readonly<Record<string, string>> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };

/** `text` as XML character data or an attribute value (either quote): invalid characters dropped. */
export function escapeXml(text: string): string {
  return text.replace(NOT_XML_CHAR, '').replace(/[<>&"']/g, (c) => ENTITIES[c] ?? c);
}
