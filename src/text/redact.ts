// A shell command made safe to echo: the values of secret-looking assignments and options
// (`OPENAI_API_KEY=sk-…`, `TWILIO_AUTH_TOKEN='…'`, `--api-key=…`, `--token …`) replaced by
// [redacted]. `callsim gate --server-cmd` is echoed in its summary, its reports and its errors,
// and a CI log or a JUnit file is no place for a key someone inlined in the command.

const REDACTED = '[redacted]';

/** A name that holds a secret: ends in KEY, TOKEN, SECRET, PASSWORD or PASSWD (PWD, the working directory, does not). */
const SECRET_NAME = String.raw`(?:[A-Za-z0-9]+[_-])*(?:API[_-]?KEY|KEY|TOKEN|SECRET|PASSWORD|PASSWD)S?`;
/** One shell word: quoted pieces and unquoted characters up to the next blank or operator. */
const VALUE = String.raw`(?:"(?:[^"\\]|\\.)*"|'[^']*'|(?:[^\s"';&|<>()\\]|\\.))+`;

/** `NAME=value` at the start of a word (an assignment, `env NAME=…`, `export NAME=…`). */
const ASSIGNMENT = new RegExp(String.raw`(^|[\s;&|(])(${SECRET_NAME})=(${VALUE})`, 'gi');
/** `--name=value` or `--name value`. */
const OPTION = new RegExp(String.raw`(^|\s)(--${SECRET_NAME})(=|\s+)(${VALUE})`, 'gi');

export interface RedactedCommand {
  /** The command with every secret value replaced. */
  text: string;
  /** The secret values as the command's process sees them (quotes removed), to scrub from its output. */
  values: string[];
}

export function redactCommand(command: string): RedactedCommand {
  const values: string[] = [];
  const keep = (value: string): void => {
    const unquoted = value.replace(/^"(.*)"$|^'(.*)'$/s, (_, d: string | undefined, s: string | undefined) => d ?? s ?? '');
    if (unquoted !== '') values.push(unquoted);
  };
  const text = command
    .replace(ASSIGNMENT, (_, before: string, name: string, value: string) => {
      keep(value);
      return `${before}${name}=${REDACTED}`;
    })
    .replace(OPTION, (_, before: string, name: string, separator: string, value: string) => {
      // `--api-key --verbose`: the option has no value here, the next word is another option.
      if (value.startsWith('-')) return `${before}${name}${separator}${value}`;
      keep(value);
      return `${before}${name}${separator}${REDACTED}`;
    });
  return { text, values };
}
