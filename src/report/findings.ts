// Findings grouped across calls: the same crash in nine calls is one entry "in 9 calls" with the
// list, not nine copies of its stack trace. Two findings are the same when their kind and message
// are, once what differs between calls anyway (SIDs, timestamps, "printed while N calls ran") is
// set aside.
import type { Finding, GateCallResult, GateResult } from '../gate/gate.js';

export interface FindingGroup {
  kind: Finding['kind'];
  /** The first occurrence's message and lines (the others differ only in SIDs and times). */
  message: string;
  lines: string[];
  /** The calls it was found in, in the run's order; empty for server output tied to no call. */
  calls: GateCallResult[];
  /** Epoch ms of its first occurrence, when known. */
  at: number | null;
}

const SID = /\b(?:AC|CA|MZ)[0-9a-f]{32}\b/g;
const ISO_TIME = /\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?\b/g;
const WHILE_RUNNING = / \(printed while \d+ calls ran\)$/;

/** What two findings must share to be one group. */
export function findingKey(finding: Finding): string {
  return `${finding.kind}\u0000${finding.message.replace(WHILE_RUNNING, '').replace(SID, '<sid>').replace(ISO_TIME, '<time>')}`;
}

/** The failing calls' findings grouped, in order of first appearance; then the server output tied to no call. */
export function groupFindings(result: GateResult): FindingGroup[] {
  const groups = new Map<string, FindingGroup>();
  for (const call of result.calls) {
    for (const finding of call.findings) {
      const key = findingKey(finding);
      const group = groups.get(key);
      if (group === undefined) groups.set(key, { kind: finding.kind, message: finding.message, lines: finding.lines, calls: [call], at: finding.at ?? null });
      else if (group.calls.at(-1) !== call) group.calls.push(call);
    }
  }
  const unattributed = result.unattributed.map((finding) => ({ kind: finding.kind, message: finding.message, lines: finding.lines, calls: [], at: finding.at ?? null }));
  return [...groups.values(), ...unattributed];
}
