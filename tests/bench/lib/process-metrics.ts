import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { round } from './stats.js';

/** CPU and memory of one OS process over one measurement, read from /proc (Linux). */
export interface ProcessUsage {
  pid: number;
  /** User + system CPU time spent during the measurement. */
  cpuSeconds: number;
  /** cpuSeconds / wall seconds × 100: 100 is one full core (can exceed 100 with GC and I/O threads). */
  cpuPercent: number;
  rssStartMb: number;
  rssEndMb: number;
  /** Highest RSS seen by the sampler during the measurement. */
  rssPeakMb: number;
}

interface Snapshot {
  at: number;
  cpuTicks: number;
  rssBytes: number;
}

const CLOCK_TICKS = clockTicks();
const MB = 1024 * 1024;

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

/** utime + stime (fields 14 and 15 of /proc/<pid>/stat) and VmRSS of /proc/<pid>/status. */
export function snapshot(pid: number): Snapshot {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  return { at: performance.now(), cpuTicks, rssBytes: rssBytes(pid) };
}

/** Resident set size of a process, in bytes. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

/**
 * Starts measuring a process: CPU from a before/after pair, RSS peak from a sampler every
 * `sampleMs`. `stop()` ends the measurement and returns the usage.
 */
export function trackProcess(pid: number, sampleMs = 250): { stop(): ProcessUsage } {
  const start = snapshot(pid);
  let peak = start.rssBytes;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {
      // the process is gone; stop() reports what was seen
    }
  }, sampleMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      const end = snapshot(pid);
      const cpuSeconds = (end.cpuTicks - start.cpuTicks) / CLOCK_TICKS;
      const wallSeconds = (end.at - start.at) / 1000;
      return {
        pid,
        cpuSeconds: round(cpuSeconds),
        cpuPercent: round((cpuSeconds / Math.max(wallSeconds, 1e-9)) * 100, 1),
        rssStartMb: round(start.rssBytes / MB, 1),
        rssEndMb: round(end.rssBytes / MB, 1),
        rssPeakMb: round(Math.max(peak, end.rssBytes) / MB, 1),
      };
    },
  };
}

/** Tracks several processes at once (e.g. two API nodes). */
export function trackProcesses(pids: readonly number[]): { stop(): ProcessUsage[] } {
  const trackers = pids.map((pid) => trackProcess(pid));
  return { stop: () => trackers.map((tracker) => tracker.stop()) };
}

/** The soft limit on open files of this process (what `ulimit -n` printed before it started). */
export function openFileLimit(): number {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (!match || match[1] === 'unlimited') return Number.POSITIVE_INFINITY;
  return Number(match[1]);
}
