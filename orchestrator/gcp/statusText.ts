import { FINAL_TABLE } from '../contract.js';
import { terminalSafe } from '../output/format.js';
import { formatCount } from '../output/numbers.js';
import type { ScheduledInvocation } from './invocations.js';
import type { SubscriptionBacklog } from './monitoring.js';
import { type GcpStatusView, type TableInfo, isUnavailable } from './status.js';

// The operator's screen: numbers rounded for people (`--json` keeps full precision).

/** A duration as people say it: 45 s, 13 min, 2.5 h, 3.2 days. */
export function humanDuration(seconds: number): string {
  const s = Math.abs(seconds);
  const sign = seconds < 0 ? '-' : '';
  if (s < 60) return `${sign}${Math.round(s)} s`;
  if (s < 5400) return `${sign}${Math.round(s / 60)} min`;
  if (s < 172_800) return `${sign}${+(s / 3600).toFixed(1)} h`;
  return `${sign}${+(s / 86_400).toFixed(1)} days`;
}

/** An instant to the minute, in UTC. */
function minute(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

function ago(iso: string, now: string): string {
  return `${humanDuration((Date.parse(now) - Date.parse(iso)) / 1000)} ago`;
}

const WIDTH = 34;
const row = (label: string, text: string) => `  ${terminalSafe(label).padEnd(WIDTH)} ${terminalSafe(text)}`;
const clip = (text: string, length = 160) => (text.length > length ? `${text.slice(0, length - 1)}…` : text);

function freshnessLines(view: GcpStatusView): string[] {
  const f = view.freshness;
  if (isUnavailable(f)) return [row('unavailable', clip(f.error))];
  if (f.rawNewestPublishTime === null) return [row('raw', 'no rows yet: nothing to be behind')];
  const lines = [row('raw, newest publish_time', `${minute(f.rawNewestPublishTime)} (${ago(f.rawNewestPublishTime, f.checkedAt)})`)];
  const limit = f.maxLagMinutes === null ? '' : ` (--max-lag-minutes ${f.maxLagMinutes}: ${f.lagExceeded ? 'OVER' : 'within'})`;
  if (f.finalNewestPublishTime === null) {
    lines.push(row(FINAL_TABLE, `nothing published since ${minute(f.finalSearchedSince!)}`));
    lines.push(row('lag', `more than ${humanDuration(f.lagAtLeastSeconds ?? 0)}${limit}`));
  } else {
    lines.push(row(FINAL_TABLE, `${minute(f.finalNewestPublishTime)} (newest last_published_at)`));
    lines.push(row('lag', `${humanDuration(f.lagSeconds ?? 0)}${limit}`));
  }
  return lines;
}

function backlogLine(part: SubscriptionBacklog | { error: string }, what: 'unacked' | 'waiting'): string[] {
  if (isUnavailable(part)) return [row('unavailable', clip(part.error))];
  if (part.unackedMessages === null) return [row(part.subscription, 'no sample in the last 10 min (Cloud Monitoring)')];
  const oldest = part.unackedMessages > 0 && part.oldestUnackedAgeSeconds !== null ? `, oldest ${humanDuration(part.oldestUnackedAgeSeconds)}` : '';
  const sampled = part.sampledAt ? ` (sampled ${part.sampledAt.slice(11, 16)} UTC)` : '';
  return [row(part.subscription, `${formatCount(part.unackedMessages)} ${what}${oldest}${sampled}`)];
}

function invocationText(i: ScheduledInvocation): string {
  const when = minute(i.startTime ?? i.scheduledAt ?? '');
  if (i.state === 'NOT_STARTED') return `NOT STARTED at ${when}: ${clip(i.error ?? '')}`;
  const took = i.durationSeconds !== null ? ` in ${humanDuration(i.durationSeconds)}` : '';
  const failed = (i.failedActions ?? []).map((a) => `${a.action}: ${clip(a.reason.split('\n')[0], 120)}`).join('; ');
  return `${i.state} at ${when}${took}${failed ? `: ${failed}` : ''}`;
}

function runsLines(view: GcpStatusView): string[] {
  const runs = view.scheduledRuns;
  if (isUnavailable(runs)) return [row('unavailable', clip(runs.error))];
  if (!runs.scheduled) return [row('not scheduled', runs.reason ?? '')];
  return runs.workflows.flatMap((w) => {
    const label = `${w.workflowConfig}${w.cronSchedule ? ` (${w.cronSchedule}${w.timeZone ? ` ${w.timeZone}` : ''})` : ''}${w.disabled ? ' DISABLED' : ''}`;
    const last = w.invocations.at(0);
    const before = w.invocations.slice(1);
    if (!last) return [row(label, 'no scheduled run yet')];
    const earlier = before.length ? [row('', `before: ${before.map((i) => i.state).join(', ')}`)] : [];
    return [row(label, invocationText(last)), ...earlier];
  });
}

function tableText(info: TableInfo): string {
  if (info.exists === false) return 'does not exist';
  return `${formatCount(info.rows ?? 0)} rows${info.lastModified ? `, changed ${minute(info.lastModified)}` : ''}`;
}

export function renderGcpStatus(view: GcpStatusView): string {
  const runs = view.scheduledRuns;
  const repository = !isUnavailable(runs) && runs.scheduled ? ` (${runs.repository})` : '';
  return [
    `${view.pipeline} on ${view.project}, location ${view.location.configured} (from ${view.location.from})`,
    'Freshness', ...freshnessLines(view),
    'Backlog (Cloud Monitoring)', ...backlogLine(view.backlog, 'unacked'),
    'Dead letters (Cloud Monitoring)', ...backlogLine(view.deadLetters, 'waiting'),
    `Scheduled Dataform runs${repository}`, ...runsLines(view),
    'Subscriptions', ...Object.entries(view.subscriptions).map(([name, s]) =>
      row(name, s.exists === false ? 'does not exist' : [s.kind, s.state, s.expires === 'never' ? 'never expires' : `expires ${s.expires}`].filter(Boolean).join(', '))),
    'Tables', row('raw', tableText(view.raw)), row(FINAL_TABLE, tableText(view.lastModelRun)),
    view.problems.length ? `Problems (exit 1):\n${view.problems.map((p) => `  - ${terminalSafe(p)}`).join('\n')}` : 'Problems: none',
  ].join('\n');
}
