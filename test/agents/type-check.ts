// The type-level check of received server events: every event becomes a typed constant in a
// virtual TypeScript file, checked by the TypeScript compiler against the openai package's own
// RealtimeServerEvent union (session objects against its RealtimeSessionCreateResponse, the
// shape the live API sends). A field of the wrong type, an unknown field or an unknown event
// type is a diagnostic.
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const VIRTUAL = fileURLToPath(new URL('./__received_events__.ts', import.meta.url));

/**
 * Long base64 payloads say nothing about the shape; a short placeholder keeps the program small.
 * One documented deviation is read as absent: `transcript: null` on an input_audio part, which
 * the live API sends and @openai/agents-realtime requires, where the package types an optional
 * string (see untranscribedAudioPart in src/model/simulator/events.ts).
 */
function shrink(value: unknown): unknown {
  if (typeof value === 'string') return value.length > 64 ? value.slice(0, 16) : value;
  if (Array.isArray(value)) return value.map(shrink);
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([k, v]) => !(k === 'transcript' && v === null && (value as { type?: unknown }).type === 'input_audio'));
    return Object.fromEntries(entries.map(([k, v]) => [k, shrink(v)]));
  }
  return value;
}

export function serverEventSource(events: ReadonlyArray<Record<string, unknown>>): string {
  const lines = [
    "import type { RealtimeServerEvent } from 'openai/resources/realtime/realtime';",
    "import type { RealtimeSessionCreateResponse } from 'openai/resources/realtime/client-secrets';",
  ];
  events.forEach((raw, i) => {
    const event = shrink(raw) as Record<string, unknown>;
    if ((event.type === 'session.created' || event.type === 'session.updated') && typeof event.session === 'object') {
      const { session, ...rest } = event;
      lines.push(`const s${i}: RealtimeSessionCreateResponse = ${JSON.stringify(session)};`);
      lines.push(`export const e${i}: RealtimeServerEvent = { ...${JSON.stringify(rest)} as { type: ${JSON.stringify(rest.type)}; event_id: string }, session: s${i} };`);
    } else {
      lines.push(`export const e${i}: RealtimeServerEvent = ${JSON.stringify(event)};`);
    }
  });
  return lines.join('\n');
}

/** Diagnostics of checking these events against the openai package's types (empty: all conform). */
export function typeCheckServerEvents(events: ReadonlyArray<Record<string, unknown>>): string[] {
  const source = serverEventSource(events);
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true, noEmit: true, skipLibCheck: true, types: [], exactOptionalPropertyTypes: false,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === VIRTUAL ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === VIRTUAL || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === VIRTUAL ? source : readFile(name));
  const program = ts.createProgram([VIRTUAL], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === VIRTUAL)
    .map((d) => {
      const line = d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line;
      return `${source.split('\n')[line]?.slice(0, 160)}\n  -> ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`;
    });
}
