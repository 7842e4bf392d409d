import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { measurementRow, type Report } from '../lib/report.js';
import { PEER_ID, renderPeers } from './compare.js';

/**
 * The peer comparison on its own: `results/peers-latest.{json,md}` plus a dated copy for a run of
 * the full sizes (committed, as the main report is), `results/tmp/` otherwise. Its own file, so a
 * `--only=fanout --peers` run leaves the committed main report alone and needs no growth or idle
 * scenario to produce one.
 */
export function writePeersReport(report: Report, dir: string): string[] {
  if (!report.peers) return [];
  const scenarios = report.scenarios.filter((s) => s.id === 'fanout' || s.id === PEER_ID);
  const loadAverageAtEnd = Math.round((os.loadavg()[0] ?? 0) * 100) / 100;
  const stamp = report.startedAt.slice(0, 10);
  const bases =
    report.mode === 'full'
      ? [`${dir}/peers-latest`, `${dir}/peers-${stamp}`]
      : [`${dir}/tmp/peers-${report.mode}-latest`];
  mkdirSync(`${dir}/tmp`, { recursive: true });
  const { environment: env } = report;
  const json = `${JSON.stringify({ peers: report.peers, environment: env, loadAverageAtEnd, mode: report.mode, seed: report.seed, startedAt: report.startedAt, scenarios }, null, 2)}\n`;
  const lines = [
    `# Switchboard vs its peers (${report.mode} run)`,
    '',
    `${report.startedAt} · seed ${report.seed} · commit \`${env.gitCommit.slice(0, 12)}\`${env.gitDirty ? ' (uncommitted changes)' : ''}`,
    '',
    `${env.cpuModel}, ${env.cores} cores · Node ${env.node} · Cassandra ${env.cassandra} · Redis ${env.redis} · load average ${env.loadAverageAtStart} at start, ${loadAverageAtEnd} at the end`,
    ...renderPeers(report.peers),
  ];
  for (const s of scenarios) {
    lines.push('', `### ${s.title}`, '');
    if (s.status !== 'ok') {
      lines.push(`**${s.status}**: ${s.reason ?? ''}`);
      continue;
    }
    lines.push(
      '| Measurement | Load | Requests | Errors | Throughput /s | p50 ms | p95 ms | p99 ms | max ms | Server CPU % | Server RSS MB start→end (peak) | Cassandra CPU % | Load generator CPU % |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...s.measurements.map(measurementRow),
      '',
      ...s.notes.map((note) => `- ${note}`),
    );
    for (const m of s.measurements) if (m.firstError) lines.push(`- first error in "${m.label}": ${m.firstError}`);
  }
  lines.push(
    '',
    'Server CPU % is the API nodes’ (Switchboard) or the Centrifugo process’s, CPU time over wall time (100 = one core), from /proc/<pid>/stat. Throughput is deliveries per second; latency runs from just before the POST to the frame at the receiving client.',
    '',
  );
  const written: string[] = [];
  for (const base of bases) {
    writeFileSync(`${base}.json`, json);
    writeFileSync(`${base}.md`, lines.join('\n'));
    written.push(`${base}.json`, `${base}.md`);
  }
  return written;
}
