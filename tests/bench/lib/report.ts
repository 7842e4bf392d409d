import { mkdirSync, writeFileSync } from 'node:fs';
import { comparePeers, type PeerComparison, renderPeers } from '../peers/compare.js';
import type { Environment } from './environment.js';
import type { Measurement, Profile, ScenarioResult } from './scenario.js';
import { ratio } from './stats.js';

/** The report: machine-readable summary first, then where it was measured, then the details. */
export interface Report {
  ratios: { sendToRawInsert: number | null; warmToColdHistory: number | null; historyP99At1e6To1e4: number | null };
  environment: Environment;
  mode: Profile['name'];
  seed: number;
  startedAt: string;
  durationSeconds: number;
  targets: TargetResult[];
  /** Switchboard's fan-out beside Centrifugo's (`--peers` only). */
  peers?: PeerComparison;
  scenarios: ScenarioResult[];
}

export interface TargetResult {
  target: string;
  measured: number | null;
  unit: string;
  /** null when not measured (the reason is in `note`). */
  holds: boolean | null;
  /** The sizes it was measured at, when they differ from the target's (quick mode, low ulimit). */
  note: string;
}

const metric = (scenarios: ScenarioResult[], id: string, name: string): number | null => {
  const value = scenarios.find((s) => s.id === id && s.status === 'ok')?.metrics[name];
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
};

export function buildReport(input: {
  profile: Profile;
  environment: Environment;
  startedAt: Date;
  scenarios: ScenarioResult[];
}): Report {
  const { scenarios, profile } = input;
  const get = (id: string, name: string) => metric(scenarios, id, name);
  const reason = (id: string) => {
    const scenario = scenarios.find((s) => s.id === id);
    if (!scenario) return 'not run (--only)';
    return scenario.status === 'ok' ? '' : `${scenario.status}: ${scenario.reason ?? ''}`;
  };
  const ratios = {
    sendToRawInsert: ratio(get('send', 'maxThroughput'), get('rawInsert', 'maxThroughput')),
    warmToColdHistory: ratio(get('history', 'warmThroughput'), get('history', 'coldThroughput')),
    historyP99At1e6To1e4: ratio(get('growth', 'historyP99Ms_1e6'), get('growth', 'historyP99Ms_1e4')),
  };
  const peers = comparePeers(scenarios);
  const growthRatio = ratios.historyP99At1e6To1e4 ?? get('growth', 'historyP99LargestToSmallest');
  const levels = profile.growth.levels.map((level) => `1e${Math.round(Math.log10(level))}`);
  const fanoutClients = get('fanout', 'clients');
  const idleConnections = get('idle', 'connections');
  const target = (
    text: string,
    measured: number | null,
    unit: string,
    holds: (value: number) => boolean,
    why: string,
    sizes = '',
  ): TargetResult => ({
    target: text,
    measured,
    unit,
    holds: measured === null ? null : holds(measured),
    note: measured === null ? why : sizes,
  });
  return {
    ratios,
    environment: input.environment,
    mode: profile.name,
    seed: profile.seed,
    startedAt: input.startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - input.startedAt.getTime()) / 100) / 10,
    targets:
      profile.name === 'scale'
        ? scaleTargets(scenarios, target, reason)
        : [
            target(
              'send throughput ≥ 60% of raw insert (same concurrency)',
              ratios.sendToRawInsert,
              '×',
              (v) => v >= 0.6,
              reason('send') || reason('rawInsert'),
            ),
            target(
              'send p99 < 50 ms at half the maximum rate',
              get('send', 'p99AtHalfRateMs'),
              'ms',
              (v) => v < 50,
              reason('send'),
            ),
            target(
              'warm history ≥ 5× cold history throughput',
              ratios.warmToColdHistory,
              '×',
              (v) => v >= 5,
              reason('history'),
            ),
            target(
              'warm history p99 < 10 ms (at half its maximum rate)',
              get('history', 'warmP99AtHalfRateMs'),
              'ms',
              (v) => v < 10,
              reason('history'),
            ),
            target(
              'fan-out POST → delivery p99 < 50 ms, 1,000 clients over two nodes',
              get('fanout', 'deliveryP99Ms'),
              'ms',
              (v) => v < 50,
              reason('fanout'),
              fanoutClients !== null && fanoutClients < 1000 ? `at ${fanoutClients} clients` : '',
            ),
            target(
              '≤ 20 KB RSS per idle WebSocket (10,000 connections)',
              get('idle', 'rssPerConnectionKb'),
              'KB',
              (v) => v <= 20,
              reason('idle'),
              idleConnections !== null && idleConnections < 10_000 ? `at ${idleConnections} connections` : '',
            ),
            target(
              'history p99 at 10⁶ stored messages ≤ 1.5× its value at 10⁴',
              growthRatio,
              '×',
              (v) => v <= 1.5,
              reason('growth'),
              ratios.historyP99At1e6To1e4 === null ? `${levels.at(-1)} vs ${levels[0]} (quick sizes)` : '',
            ),
          ],
    ...(peers ? { peers } : {}),
    scenarios,
  };
}

type TargetOf = (
  text: string,
  measured: number | null,
  unit: string,
  holds: (value: number) => boolean,
  why: string,
  sizes?: string,
) => TargetResult;

/** The scale run's targets (issue #14's "as far as this machine reaches", #15's RSS bound). */
function scaleTargets(scenarios: ScenarioResult[], target: TargetOf, reason: (id: string) => string): TargetResult[] {
  const get = (id: string, name: string) => metric(scenarios, id, name);
  const idle = get('idle', 'connections');
  const failed = get('idle', 'failed');
  const largestGroup = scenarios.find((s) => s.id === 'groups' && s.status === 'ok');
  const largestSize = largestGroup
    ? Math.max(
        ...Object.keys(largestGroup.metrics)
          .filter((k) => k.startsWith('p99Ms_'))
          .map((k) => Number(k.slice(6))),
      )
    : null;
  const delivered = largestGroup?.metrics[`delivered_${largestSize}`];
  const [got, expected] = typeof delivered === 'string' ? delivered.split('/').map(Number) : [];
  return [
    target(
      '100,000 idle WebSocket connections, none refused',
      idle,
      'connections',
      (v) => v >= 100_000 && failed === 0,
      reason('idle'),
      failed ? `${failed} failed` : '',
    ),
    target(
      '≤ 13 KB RSS per idle WebSocket (at that count)',
      get('idle', 'rssPerConnectionKb'),
      'KB',
      (v) => v <= 13,
      reason('idle'),
    ),
    target(
      `every delivery of the ${largestSize ?? 10_000}-member group's messages arrives, once`,
      got !== undefined && expected ? got / expected : null,
      'of deliveries',
      (v) => v === 1 && get('groups', `duplicates_${largestSize}`) === 0,
      reason('groups'),
      typeof delivered === 'string' ? delivered : '',
    ),
    target(
      'history p99 at 10⁷ stored messages ≤ 1.5× its value at 10⁴',
      ratio(get('growth', 'historyP99Ms_1e7'), get('growth', 'historyP99Ms_1e4')),
      '×',
      (v) => v <= 1.5,
      reason('growth') || 'the growth scenario did not reach 10⁷',
    ),
  ];
}

/** Group size and store size as tables (the scale curves), from whichever of the two scenarios ran. */
function renderCurves(scenarios: ScenarioResult[]): string[] {
  const lines: string[] = [];
  const groups = scenarios.find((s) => s.id === 'groups' && s.status === 'ok');
  if (groups) {
    const sizes = Object.keys(groups.metrics)
      .filter((k) => k.startsWith('p99Ms_'))
      .map((k) => k.slice(6));
    lines.push(
      '',
      '### Group size',
      '',
      '| Members | Deliveries/s | p50 ms | p99 ms | API CPU µs per delivery | Delivered | Duplicates |',
      '| --- | --- | --- | --- | --- | --- | --- |',
      ...sizes.map(
        (n) =>
          `| ${n} | ${groups.metrics[`deliveriesPerSecond_${n}`]} | ${groups.metrics[`p50Ms_${n}`]} | ${groups.metrics[`p99Ms_${n}`]} | ${groups.metrics[`apiCpuUsPerDelivery_${n}`]} | ${groups.metrics[`delivered_${n}`]} | ${groups.metrics[`duplicates_${n}`]} |`,
      ),
    );
  }
  const growth = scenarios.find((s) => s.id === 'growth' && s.status === 'ok');
  if (growth) {
    const levels = Object.keys(growth.metrics)
      .filter((k) => k.startsWith('historyP99Ms_'))
      .map((k) => k.slice('historyP99Ms_'.length));
    const first = growth.metrics[`historyP99Ms_${levels[0]}`];
    lines.push(
      '',
      '### Stored messages',
      '',
      '| Stored | History deep page p99 ms | ÷ smallest | Send p99 ms | Load seconds |',
      '| --- | --- | --- | --- | --- |',
      ...levels.map((level) => {
        const p99 = growth.metrics[`historyP99Ms_${level}`];
        const times = typeof p99 === 'number' && typeof first === 'number' ? fmt(p99 / first) : '—';
        return `| 10^${level.slice(2)} | ${p99} | ${times} | ${growth.metrics[`sendP99Ms_${level}`]} | ${growth.metrics[`loadSeconds_${level}`]} |`;
      }),
    );
  }
  return lines.length === 0 ? [] : ['', '## Scale curves', ...lines];
}

const fmt = (value: number | null | undefined, digits = 2) =>
  value === null || value === undefined || Number.isNaN(value)
    ? '—'
    : String(Math.round(value * 10 ** digits) / 10 ** digits);

const verdict = (holds: boolean | null) => (holds === null ? '— not measured' : holds ? '✅ holds' : '❌ misses');

export function measurementRow(m: Measurement): string {
  const api = m.api.length === 0 ? '—' : m.api.map((u) => fmt(u.cpuPercent, 0)).join(' + ');
  const rss =
    m.api.length === 0
      ? '—'
      : m.api.map((u) => `${fmt(u.rssStartMb, 0)}→${fmt(u.rssEndMb, 0)} (${fmt(u.rssPeakMb, 0)})`).join(', ');
  const load = m.concurrency !== null ? `c=${m.concurrency}` : m.rate !== null ? `${m.rate}/s` : '';
  return `| ${m.label} | ${load} | ${m.requests} | ${m.errors} | ${fmt(m.throughput, 1)} | ${fmt(m.latencyMs.p50)} | ${fmt(m.latencyMs.p95)} | ${fmt(m.latencyMs.p99)} | ${fmt(m.latencyMs.max)} | ${api} | ${rss} | ${fmt(m.cassandra?.cpuPercent, 0)} | ${fmt(m.loadgenCpuPercent, 0)} |`;
}

/** The Markdown twin of the JSON: targets first, then every scenario's measurements. */
export function renderMarkdown(report: Report): string {
  const env = report.environment;
  const lines = [
    `# Switchboard benchmark (${report.mode} run)`,
    '',
    `${report.startedAt} · ${report.durationSeconds} s · seed ${report.seed} · commit \`${env.gitCommit.slice(0, 12)}\`${env.gitDirty ? ' (uncommitted changes)' : ''}`,
    '',
    `${env.cpuModel}, ${env.cores} cores, ${env.memoryGb} GB · ${env.os} · Node ${env.node} · Cassandra ${env.cassandra} · Redis ${env.redis} · ulimit -n ${env.openFileLimit} · load average at start ${env.loadAverageAtStart}`,
    '',
    'Everything (API, Cassandra, Redis and the load generator) shares the same cores, so every number includes that contention.',
    ...(report.mode === 'quick' ? ['', '**Quick run: smoke-test sizes; the numbers are not the benchmark.**'] : []),
    '',
    '## Targets',
    '',
    '| Target | Measured | Verdict | Note |',
    '| --- | --- | --- | --- |',
    ...report.targets.map(
      (t) =>
        `| ${t.target} | ${fmt(t.measured)} ${t.measured === null ? '' : t.unit} | ${verdict(t.holds)} | ${t.note} |`,
    ),
    '',
    // A scale run measures none of the three ratios (its own are its targets and curves).
    ...(report.mode === 'scale'
      ? []
      : [
          '## Ratios',
          '',
          `- send / raw insert throughput: **${fmt(report.ratios.sendToRawInsert, 3)}**`,
          `- warm / cold history throughput: **${fmt(report.ratios.warmToColdHistory, 3)}**`,
          `- history p99 at 10⁶ / at 10⁴ stored messages: **${fmt(report.ratios.historyP99At1e6To1e4, 3)}**`,
        ]),
    ...renderPeers(report.peers),
    ...renderCurves(report.scenarios),
    '',
    '## Scenarios',
  ];
  for (const s of report.scenarios) {
    lines.push('', `### ${s.title}`, '');
    if (s.status !== 'ok') {
      lines.push(`**${s.status}**: ${s.reason ?? ''}`);
      continue;
    }
    if (s.measurements.length > 0) {
      lines.push(
        '| Measurement | Load | Requests | Errors | Throughput /s | p50 ms | p95 ms | p99 ms | max ms | API CPU % | API RSS MB start→end (peak) | Cassandra CPU % | Load generator CPU % |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
        ...s.measurements.map(measurementRow),
        '',
      );
    }
    const metrics = Object.entries(s.metrics).map(([key, value]) => `\`${key}\` ${value ?? '—'}`);
    if (metrics.length > 0) lines.push(metrics.join(' · '), '');
    for (const note of s.notes) lines.push(`- ${note}`);
    for (const m of s.measurements) if (m.firstError) lines.push(`- first error in "${m.label}": ${m.firstError}`);
    lines.push(`- scenario wall time ${s.seconds} s`);
  }
  lines.push(
    '',
    '## Reading this report',
    '',
    '- Latencies are per request, measured in the load generator (process.hrtime) from sending the request to reading the whole response; open-loop runs count from the scheduled start, so queueing shows.',
    '- CPU % is CPU time over wall time for the process (100 = one core); RSS in MB from /proc.',
    '- Fan-out throughput is deliveries per second; its latency runs from just before the POST to the frame at the receiving client.',
    '',
  );
  return lines.join('\n');
}

/**
 * Writes `<name>.json` and `<name>.md` for each name. Full runs of every scenario become
 * `results/latest.*` plus a dated copy, scale runs `results/scale-latest.*` plus a dated copy;
 * anything else goes to the git-ignored `results/tmp/`.
 */
export function writeReport(report: Report, dir: string, complete: boolean): string[] {
  const stamp = report.startedAt.replace(/[:]/g, '-').replace(/\..+$/, '');
  const prefix = report.mode === 'scale' ? 'scale-' : '';
  const targets = complete
    ? [`${dir}/${prefix}latest`, `${dir}/${prefix}${stamp.slice(0, 10)}`]
    : [`${dir}/tmp/${report.mode}-latest`, `${dir}/tmp/${stamp}-${report.mode}`];
  mkdirSync(`${dir}/tmp`, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const markdown = renderMarkdown(report);
  const written: string[] = [];
  for (const base of targets) {
    writeFileSync(`${base}.json`, json);
    writeFileSync(`${base}.md`, markdown);
    written.push(`${base}.json`, `${base}.md`);
  }
  return written;
}
