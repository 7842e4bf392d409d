import type { Measurement, ScenarioResult } from '../lib/scenario.js';
import { ratio, round } from '../lib/stats.js';
import { CENTRIFUGO_VERSION } from './versions.js';

/** The peer scenario's id (`--peers`). */
export const PEER_ID = 'peers';

/** CPU ms of the measured server process(es) per delivered message (null when nothing arrived). */
export function cpuMsPerDelivery(m: Measurement): number | null {
  if (m.latencyMs.count === 0 || m.api.length === 0) return null;
  const seconds = m.api.reduce((sum, usage) => sum + usage.cpuSeconds, 0);
  return round((seconds * 1000) / m.latencyMs.count, 3);
}

/**
 * Switchboard's fan-out figures beside the peer's from the same run, each with its ratio
 * (Switchboard ÷ peer): above 1 is more for Switchboard, which is worse for latency and CPU and
 * better for throughput, as each row's `better` says.
 */
export interface PeerRow {
  what: string;
  unit: string;
  better: 'lower' | 'higher';
  switchboard: number | null;
  peer: number | null;
  ratio: number | null;
  note: string;
}

export interface PeerComparison {
  peer: string;
  /** Why there is no comparison (the peer skipped or failed, or fan-out not run), else null. */
  missing: string | null;
  rows: PeerRow[];
  caveats: string[];
}

const ok = (scenarios: ScenarioResult[], id: string) => scenarios.find((s) => s.id === id && s.status === 'ok');
const direct = (s: ScenarioResult | undefined) => s?.measurements.find((m) => m.label.startsWith('1:1'));
const group = (s: ScenarioResult | undefined) => s?.measurements.find((m) => m.label.includes('-member group'));
const num = (s: ScenarioResult | undefined, name: string) => {
  const value = s?.metrics[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
};
const orNull = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? null : value);

/** The comparison, or undefined when the peer scenario was not asked for. */
export function comparePeers(scenarios: ScenarioResult[]): PeerComparison | undefined {
  const peerRun = scenarios.find((s) => s.id === PEER_ID);
  if (!peerRun) return undefined;
  const fanoutRun = scenarios.find((s) => s.id === 'fanout');
  const sb = ok(scenarios, 'fanout');
  const peer = ok(scenarios, PEER_ID);
  const missing = !peer
    ? `Centrifugo ${peerRun.status}: ${peerRun.reason ?? ''}`
    : !sb
      ? `Switchboard fan-out ${fanoutRun ? `${fanoutRun.status}: ${fanoutRun.reason ?? ''}` : 'not run (add fanout to --only)'}`
      : null;
  const sbDirect = direct(sb);
  const peerDirect = direct(peer);
  const sbGroup = group(sb);
  const peerGroup = group(peer);
  const cassandraMs = (m: Measurement | undefined) =>
    m?.cassandra && m.latencyMs.count > 0 ? round((m.cassandra.cpuSeconds * 1000) / m.latencyMs.count, 3) : null;
  const sbApiMs = sbDirect ? cpuMsPerDelivery(sbDirect) : null;
  const sbCassandraMs = cassandraMs(sbDirect);
  const peerMs = peerDirect ? cpuMsPerDelivery(peerDirect) : null;
  const sbServerMs = sbApiMs !== null && sbCassandraMs !== null ? round(sbApiMs + sbCassandraMs, 3) : null;
  const row = (
    what: string,
    unit: string,
    better: PeerRow['better'],
    switchboard: number | null,
    other: number | null,
    note = '',
  ): PeerRow => ({ what, unit, better, switchboard, peer: other, ratio: ratio(switchboard, other, 2), note });
  const rate = sbDirect?.rate ?? peerDirect?.rate;
  const members = num(sb, 'groupSize') ?? num(peer, 'groupSize');
  const groupLabel = members === null ? 'group' : `${members}-member group`;
  return {
    peer: `Centrifugo ${CENTRIFUGO_VERSION}`,
    missing,
    rows: [
      row(
        `1:1 at ${rate}/s: POST → frame p50`,
        'ms',
        'lower',
        orNull(sbDirect?.latencyMs.p50),
        orNull(peerDirect?.latencyMs.p50),
      ),
      row(
        `1:1 at ${rate}/s: POST → frame p99`,
        'ms',
        'lower',
        orNull(sbDirect?.latencyMs.p99),
        orNull(peerDirect?.latencyMs.p99),
      ),
      row(
        `1:1 at ${rate}/s: load generator's longest event-loop stall`,
        'ms',
        'lower',
        num(sb, 'loadgenLoopDelayMaxMs'),
        num(peer, 'loadgenLoopDelayMaxMs'),
        'a p99 near this is the harness stalling, not the server',
      ),
      row(
        `1:1 at ${rate}/s: deliveries missing`,
        '',
        'lower',
        sbDirect?.errors ?? null,
        peerDirect?.errors ?? null,
        'missing after 10 s, plus failed POSTs',
      ),
      row(
        `1:1 at ${rate}/s: frames repeated`,
        '',
        'lower',
        num(sb, 'directDuplicates'),
        num(peer, 'directDuplicates'),
        'a message arriving again at its receiver (not counted as a delivery)',
      ),
      row(
        'CPU per delivered 1:1 message: API process(es) vs Centrifugo',
        'ms',
        'lower',
        sbApiMs,
        peerMs,
        `Switchboard: both API nodes (${sbDirect?.api.map((u) => `${u.cpuSeconds} s`).join(' + ') ?? '—'} of CPU)`,
      ),
      row(
        'CPU per delivered 1:1 message: API + Cassandra vs Centrifugo',
        'ms',
        'lower',
        sbServerMs,
        peerMs,
        `Cassandra ${sbCassandraMs ?? '—'} ms per message (the whole process: on a shared Cassandra, others' work too); Redis not measured`,
      ),
      row(
        'highest 1:1 rate with p99 < 50 ms, nothing lost',
        '/s',
        'higher',
        num(sb, 'maxSustainedRate'),
        num(peer, 'maxSustainedRate'),
        [
          num(sb, 'maxSustainedRate') === null
            ? 'Switchboard: not measured by the fan-out scenario (no maxSustainedRate metric)'
            : '',
          num(sb, 'maxSustainedRate') === 0 ? 'Switchboard: not even the sweep’s first rate held' : '',
          typeof sb?.metrics.sweepAtFailure === 'string' ? `Switchboard failed ${sb.metrics.sweepAtFailure}` : '',
          peer?.metrics.sweepHarnessBound === 'yes' ? 'Centrifugo: harness-bound (its own ceiling is higher)' : '',
          typeof peer?.metrics.sweepAtFailure === 'string' ? `Centrifugo failed ${peer.metrics.sweepAtFailure}` : '',
          num(peer, 'firstFailedRate') === null && peer ? 'Centrifugo: held at every rate tried' : '',
        ]
          .filter(Boolean)
          .join('; '),
      ),
      row(`${groupLabel}: deliveries/s`, '/s', 'higher', orNull(sbGroup?.throughput), orNull(peerGroup?.throughput)),
      row(
        `${groupLabel}: POST → frame p99`,
        'ms',
        'lower',
        orNull(sbGroup?.latencyMs.p99),
        orNull(peerGroup?.latencyMs.p99),
      ),
    ],
    caveats: [
      'Switchboard stores every message durably before it answers (Cassandra at LOCAL_QUORUM, plus the Redis window and pub/sub); Centrifugo, memory engine and history off, stores nothing',
      'Switchboard runs two API nodes and every 1:1 delivery crosses Redis pub/sub; Centrifugo is one process delivering in memory',
      'same machine and cores for everything: API, Cassandra, Redis, Centrifugo and the load generator; the two run one after the other, not at once',
    ],
  };
}

const fmt = (value: number | null, digits = 2) =>
  value === null ? '—' : String(Math.round(value * 10 ** digits) / 10 ** digits);

/** The report's "Peers" section (empty when the peer was not asked for). */
export function renderPeers(comparison: PeerComparison | undefined): string[] {
  if (!comparison) return [];
  const lines = ['', `## Peers: Switchboard vs ${comparison.peer}, same fan-out scenario`, ''];
  if (comparison.missing) {
    lines.push(`**No comparison**: ${comparison.missing}`);
    return lines;
  }
  lines.push(
    `| Measure | Switchboard | ${comparison.peer} | Switchboard ÷ peer | Better | Note |`,
    '| --- | --- | --- | --- | --- | --- |',
    ...comparison.rows.map(
      (r) =>
        `| ${r.what} | ${fmt(r.switchboard, 3)} ${r.switchboard === null ? '' : r.unit} | ${fmt(r.peer, 3)} ${r.peer === null ? '' : r.unit} | ${fmt(r.ratio)} | ${r.better} | ${r.note} |`,
    ),
    '',
    ...comparison.caveats.map((c) => `- ${c}`),
  );
  return lines;
}
