// What the machine did, read from Linux's /proc: a server command's CPU and memory (its whole
// process tree), this thread's own CPU time, and the whole machine's busy time, so that a step
// can say how much of the machine other processes took. Elsewhere every reader returns null,
// and the figures built on them are null: never measured is never 0.
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

/** /proc/<pid>/stat counts CPU in clock ticks of USER_HZ, which Linux fixes at 100 for user space. */
const TICKS_PER_SECOND = 100;

export interface TreeSample {
  /** CPU of every process in the tree since it started (user + system, waited-for children included), ms. */
  cpuMs: number;
  rssBytes: number;
  processes: number;
}

interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  cpuTicks: number;
}

function readStat(pid: string): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // After comm: state(0) ppid(1) pgrp(2) ... utime(11) stime(12) cutime(13) cstime(14).
  const cpuTicks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  if (!Number.isFinite(cpuTicks)) return null;
  return { pid: Number(pid), ppid: Number(f[1]), pgrp: Number(f[2]), state: f[0] ?? '?', cpuTicks };
}

function rssOf(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * The process tree of `root` (the leader of its own process group, as a server command is):
 * every live process in that group, and every descendant of root outside it.
 */
export function sampleProcessTree(root: number): TreeSample | null {
  let names: string[];
  try {
    names = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return null;
  }
  const stats = names.map(readStat).filter((s): s is ProcStat => s !== null);
  const children = new Map<number, ProcStat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const members = new Map<number, ProcStat>();
  for (const s of stats) if (s.pgrp === root) members.set(s.pid, s);
  const rootStat = stats.find((s) => s.pid === root);
  if (rootStat) members.set(root, rootStat);
  // Descendants that left the group (setsid, a daemon) are still the server's.
  const queue = [...members.values()];
  while (queue.length > 0) {
    const next = queue.pop()!;
    for (const child of children.get(next.pid) ?? []) {
      if (members.has(child.pid)) continue;
      members.set(child.pid, child);
      queue.push(child);
    }
  }
  const live = [...members.values()].filter((s) => s.state !== 'Z' && s.state !== 'X');
  if (live.length === 0) return null;
  return {
    cpuMs: ([...members.values()].reduce((sum, s) => sum + s.cpuTicks, 0) * 1000) / TICKS_PER_SECOND,
    rssBytes: live.reduce((sum, s) => sum + rssOf(s.pid), 0),
    processes: live.length,
  };
}

/** CPU time the calling thread has run, ms (/proc/thread-self/schedstat: ns on the CPU). */
export function threadCpuMs(): number | null {
  try {
    const ns = Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ', 1)[0]);
    return Number.isFinite(ns) ? ns / 1e6 : null;
  } catch {
    return null;
  }
}

export interface MachineTimes {
  /** All CPU time of all cores, ms. */
  totalMs: number;
  idleMs: number;
  /** Interrupt time: on loopback, mostly our own packets. */
  irqMs: number;
}

export function machineTimes(): MachineTimes | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal ...
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 8 || f.some((v) => !Number.isFinite(v))) return null;
    const ms = (ticks: number): number => (ticks * 1000) / TICKS_PER_SECOND;
    return { totalMs: ms(f.slice(0, 8).reduce((a, b) => a + b, 0)), idleMs: ms(f[3]! + f[4]!), irqMs: ms(f[5]! + f[6]!) };
  } catch {
    return null;
  }
}

export interface MachineBusy {
  /** CPU the whole machine used between two readings, in % of one core (two cores flat out: 200). */
  busyPercent: number;
  /** Of that, interrupt time. */
  irqPercent: number;
}

/** How busy the machine was between two readings; null when either is missing or no time passed. */
export function machineBusyBetween(from: MachineTimes | null, to: MachineTimes | null): MachineBusy | null {
  if (from === null || to === null || to.totalMs <= from.totalMs) return null;
  const total = to.totalMs - from.totalMs;
  // /proc/stat adds up every CPU of the machine.
  const percent = (ms: number): number => (ms / total) * 100 * os.cpus().length;
  return { busyPercent: percent(total - (to.idleMs - from.idleMs)), irqPercent: percent(to.irqMs - from.irqMs) };
}
