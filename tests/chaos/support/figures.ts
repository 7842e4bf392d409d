import type { Attempt, Load } from './load.js';

/** What one scenario measured: the figures issue 14 asks for, plus the scenario's own checks. */
export interface ScenarioFigures {
  name: string;
  title: string;
  /** Load start, fault start, fault end (recovery done), senders stopped (ms since epoch). */
  times: { started: number; faultStart: number; faultEnd: number; stopped: number };
  acknowledged: number;
  foundInHistory: number;
  missing: string[];
  duplicates: number;
  historyWaitMs: number;
  sendAttempts: number;
  failuresDuring: Record<string, number>;
  failuresOutside: Record<string, number>;
  readFailures: Record<string, number>;
  longestGapMs: number;
  p99: { before: number; during: number; after: number };
  wsClients: number;
  wsCompleteLive: number;
  wsCompleteFinal: number;
  wsReconnects: number;
  resyncFrames: number;
  settledFrames: number;
  notes: string[];
  checks: { what: string; ok: boolean }[];
}

export function p99(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.99 * sorted.length) - 1] as number;
}

function countBy(attempts: Attempt[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const attempt of attempts) counts[attempt.outcome] = (counts[attempt.outcome] ?? 0) + 1;
  return counts;
}

/** The longest stretch between successful sends (answers), from the load's start to the senders' stop. */
export function longestGap(sends: Attempt[], from: number, to: number): number {
  const ends = sends
    .filter((attempt) => attempt.ok)
    .map((attempt) => attempt.at + attempt.ms)
    .sort((a, b) => a - b);
  let longest = 0;
  let previous = from;
  for (const end of [...ends, to]) {
    longest = Math.max(longest, end - previous);
    previous = end;
  }
  return longest;
}

export function computeFigures(
  name: string,
  title: string,
  load: Load,
  times: ScenarioFigures['times'],
  history: { found: number; missing: string[]; storedTwice: number; waitedMs: number },
  ws: { live: number; final: number },
): Omit<ScenarioFigures, 'notes' | 'checks'> {
  const during = (a: Attempt) => a.at >= times.faultStart && a.at < times.faultEnd;
  const phase = (from: number, to: number) =>
    p99(load.sends.filter((a) => a.ok && a.at >= from && a.at < to).map((a) => a.ms));
  return {
    name,
    title,
    times,
    acknowledged: load.acknowledged.size,
    foundInHistory: history.found,
    missing: history.missing,
    duplicates: history.storedTwice + load.duplicateAcks.length,
    historyWaitMs: history.waitedMs,
    sendAttempts: load.sends.length,
    failuresDuring: countBy(load.sends.filter((a) => !a.ok && during(a))),
    failuresOutside: countBy(load.sends.filter((a) => !a.ok && !during(a))),
    readFailures: countBy(load.reads.filter((a) => !a.ok)),
    longestGapMs: longestGap(load.sends, times.started, times.stopped),
    p99: {
      before: phase(times.started, times.faultStart),
      during: phase(times.faultStart, times.faultEnd),
      after: phase(times.faultEnd, times.stopped),
    },
    wsClients: load.clients.length,
    wsCompleteLive: ws.live,
    wsCompleteFinal: ws.final,
    wsReconnects: load.clients.reduce((sum, client) => sum + client.connections - 1, 0),
    resyncFrames: load.clients.reduce((sum, client) => sum + client.resyncs, 0),
    settledFrames: load.clients.reduce((sum, client) => sum + client.settledFrames, 0),
  };
}

const ms = (value: number) => (Number.isNaN(value) ? 'n/a' : `${Math.round(value)} ms`);
const counts = (record: Record<string, number>) =>
  Object.entries(record)
    .map(([outcome, n]) => `${n} × ${outcome}`)
    .join(', ') || 'none';

/** The report's section for one scenario. */
export function renderScenario(f: ScenarioFigures): string {
  const seconds = (a: number, b: number) => `${((b - a) / 1000).toFixed(1)} s`;
  return [
    `### ${f.title}`,
    '',
    `Load ${seconds(f.times.started, f.times.stopped)}: ${seconds(f.times.started, f.times.faultStart)} before the fault, ` +
      `${seconds(f.times.faultStart, f.times.faultEnd)} from the fault to the end of recovery, ` +
      `${seconds(f.times.faultEnd, f.times.stopped)} after.`,
    '',
    '| Figure | Value |',
    '| --- | --- |',
    `| Sends acknowledged (201/200) | ${f.acknowledged} (of ${f.sendAttempts} attempts) |`,
    `| Acknowledged sends found in history afterwards | **${f.foundInHistory} / ${f.acknowledged}**${f.missing.length ? ` (missing: ${f.missing.slice(0, 5).join(', ')})` : ''} (read back after ${ms(f.historyWaitMs)}) |`,
    `| Duplicates (one key stored twice) | **${f.duplicates}** |`,
    `| Send attempts failed during the fault | ${counts(f.failuresDuring)} |`,
    `| Send attempts failed outside it | ${counts(f.failuresOutside)} |`,
    `| History reads failed (whole run) | ${counts(f.readFailures)} |`,
    `| Longest gap without a successful send | ${ms(f.longestGapMs)} |`,
    `| Send p99 before / during / after | ${ms(f.p99.before)} / ${ms(f.p99.during)} / ${ms(f.p99.after)} |`,
    `| WebSocket clients with every acknowledged message | **${f.wsCompleteFinal} / ${f.wsClients}** (${f.wsCompleteLive} before their last catch-up) |`,
    `| WebSocket reconnects / resync frames / settled frames | ${f.wsReconnects} / ${f.resyncFrames} / ${f.settledFrames} |`,
    ...f.checks.map((check) => `| Check: ${check.what} | ${check.ok ? 'yes' : '**NO**'} |`),
    '',
    ...f.notes.map((note) => `- ${note}`),
    '',
  ].join('\n');
}
