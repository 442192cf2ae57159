// The report page: one self-contained HTML file (inline CSS and SVG, no script, no URL), written as
// well-formed XML too, so that any XML parser can check it. Every text from the data is escaped.
import { type Charts, MAX_CHART_CITIES, ROLE_LABELS, cityLabels, cityTotals } from './charts.js';
import type { ReportData, Statistics } from './data.js';

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** A delay for people: "45 s", "43 min", "1 h 43 min"; a dash when there is none. */
export function formatDuration(seconds: number | null): string {
  if (seconds === null) return '–';
  if (seconds < 59.5) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const rest = minutes % 60;
  return `${Math.floor(minutes / 60)} h${rest ? ` ${rest} min` : ''}`;
}

export const formatShare = (share: number | null) => (share === null ? '–' : `${(share * 100).toFixed(1)}%`);
const formatCount = (n: number) => n.toLocaleString('en-US');
const formatSeconds = (seconds: number | null) => (seconds === null ? '–' : `${formatCount(seconds)} s`);

/** "2024-02-01 10:00 UTC". */
export function formatTime(iso: string | null): string {
  return iso === null ? '–' : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

export interface ReportMeta {
  /** Where the numbers were read: the local warehouse file or the BigQuery dataset. */
  source: string;
  builtAt: Date;
}

const STYLE = `
  body { margin: 0; background: #f5f6f8; color: #1d2733; font: 15px/1.5 Helvetica, Arial, sans-serif; }
  main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 40px; }
  h1 { font-size: 26px; margin: 8px 0 4px; }
  h2 { font-size: 19px; margin: 0 0 4px; }
  p.meta, p.note, footer { color: #5a6570; font-size: 13px; }
  section { background: white; border: 1px solid #dde1e6; border-radius: 6px; padding: 18px 20px; margin: 18px 0; }
  .cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; background: none; border: none; padding: 0; }
  .card { background: white; border: 1px solid #dde1e6; border-radius: 6px; padding: 12px 14px; }
  .card .label { color: #5a6570; font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; }
  .card .value { font-size: 26px; font-weight: bold; margin: 2px 0; }
  .card .detail { color: #5a6570; font-size: 12px; }
  .chart { overflow-x: auto; }
  .chart svg { display: block; max-width: 100%; height: auto; }
  table { border-collapse: collapse; width: 100%; font-size: 13px; }
  th, td { padding: 4px 8px; border-bottom: 1px solid #e6e9ed; text-align: right; }
  th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) { text-align: left; }
  th { background: #f0f2f5; font-weight: 600; }
  td.city { max-width: 220px; overflow-wrap: anywhere; }
`;

function card(label: string, value: string, detail: string): string {
  return `<div class="card"><div class="label">${escapeHtml(label)}</div><div class="value">${escapeHtml(value)}</div><div class="detail">${escapeHtml(detail)}</div></div>`;
}

function headline(data: ReportData): string {
  const s = data.summary;
  const unanswered = s.conversations - s.answered;
  return `<section class="cards">
${card('Conversations', formatCount(s.conversations), `in ${formatCount(s.cities)} ${s.cities === 1 ? 'city' : 'cities'}`)}
${card('Answered', formatShare(s.answeredShare), `${formatCount(s.answered)} of ${formatCount(s.conversations)}`)}
${card('Never answered', formatShare(s.answeredShare === null ? null : 1 - s.answeredShare), `${formatCount(unanswered)} conversations`)}
${card('Messages per chat', s.messagesPerConversation === null ? '–' : s.messagesPerConversation.toFixed(2), 'both sides')}
${card('Median first answer', formatDuration(s.medianSeconds), formatSeconds(s.medianSeconds))}
${card('90% answered within', formatDuration(s.p90Seconds), formatSeconds(s.p90Seconds))}
${card('Mean first answer', formatDuration(s.meanSeconds), s.meanSeconds === null ? '–' : `${formatCount(s.meanSeconds)} s, pulled up by slow answers`)}
${card('Latest conversation', s.lastConversationStartedAt === null ? '–' : s.lastConversationStartedAt.slice(0, 10), formatTime(s.lastConversationStartedAt))}
</section>`;
}

function chart(title: string, text: string, svg: string): string {
  return `<section>
<h2>${escapeHtml(title)}</h2>
<p class="note">${escapeHtml(text)}</p>
<div class="chart">${svg}</div>
</section>`;
}

function statisticsCells(s: Statistics): string {
  return [formatCount(s.conversations), formatShare(s.answeredShare), formatSeconds(s.medianSeconds), formatSeconds(s.p90Seconds),
    s.meanSeconds === null ? '–' : `${formatCount(s.meanSeconds)} s`, s.messagesPerConversation === null ? '–' : s.messagesPerConversation.toFixed(2)]
    .map((cell) => `<td>${escapeHtml(cell)}</td>`).join('');
}

function cityTable(data: ReportData): string {
  const labels = cityLabels(data.byCity);
  const order = cityTotals(data.byCity).map((c) => c.city);
  // Busiest city first; within a city, the data's order (by who waited).
  const rows = [...data.byCity].sort((a, b) => order.indexOf(a.city) - order.indexOf(b.city));
  const body = rows.map((r) => `<tr><td class="city">${escapeHtml(labels.get(r.city)!)}</td><td>${escapeHtml(ROLE_LABELS[r.firstMessageBy])}</td>${statisticsCells(r)}</tr>`);
  return `<table>
<thead><tr><th>city</th><th>who waited</th><th>conversations</th><th>answered</th><th>median</th><th>90th percentile</th><th>mean</th><th>messages per chat</th></tr></thead>
<tbody>
${body.join('\n')}
</tbody>
</table>`;
}

export function renderHtml(data: ReportData, charts: Charts | undefined, meta: ReportMeta): string {
  const s = data.summary;
  const cities = cityTotals(data.byCity).length;
  const range = s.firstConversationStartedAt === null
    ? 'No conversations yet.'
    : `Conversations started from ${formatTime(s.firstConversationStartedAt)} to ${formatTime(s.lastConversationStartedAt)}; latest event published ${formatTime(s.lastPublishedAt)}.`;
  const built = `Built ${formatTime(meta.builtAt.toISOString())} from ${meta.source}.`;
  const shown = cities > MAX_CHART_CITIES ? ` The ${MAX_CHART_CITIES} busiest of ${cities} cities are drawn; the table lists all.` : '';
  const sections = charts === undefined
    ? ['<section><h2>Nothing to show yet</h2><p class="note">The warehouse holds no conversation: land some events and run the models, then build the report again.</p></section>']
    : [
      chart('How fast the first message is answered, by city',
        `Who waited: the side that wrote first waits for the other's first message. Bar: median delay; tick: 90th percentile (90% of answered conversations were answered within it).${shown}`,
        charts.cityDelay),
      chart('Conversations nobody answered', `Share of conversations where the other side never wrote; the dashed line is the share over all cities.${shown}`, charts.unanswered),
      chart('Daily trend of the first answer', 'Median and 90th percentile of each UTC day (points); with two weeks of data or more, a smoothed trend (LOESS) over them.', charts.dailyDelay),
      chart('Conversations and unanswered share over time', 'Conversations started per period (bars) and the share never answered (line, right axis).', charts.volume),
      chart('Distribution of the first answer delay', 'Answered conversations per delay bucket, by who waited.', charts.distribution),
      `<section>\n<h2>By city, in numbers</h2>\n<p class="note">Median and 90th percentile are exact (PERCENTILE_DISC): delays some conversation really had. Characters a page cannot show in a city code (controls, line separators, direction marks) are written as escapes such as \\u2028; a * sets apart a label another city already has.</p>\n${cityTable(data)}\n</section>`,
    ];
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>Chat response times</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>How fast couriers and customers answer each other</h1>
<p class="meta">${escapeHtml(range)} ${escapeHtml(built)}</p>
${headline(data)}
${sections.join('\n')}
<footer>Read from the analytics models: response_times_summary, response_times_by_city, response_times_daily and response_time_distribution (see the README, "For analysts"). Delays are whole seconds from a conversation's first message to the other side's first message.</footer>
</main>
</body>
</html>
`;
}
