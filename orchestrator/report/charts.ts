// The report's charts: Vega-Lite specifications compiled to Vega and rendered to SVG in Node, with
// no browser, canvas or network (renderer 'none', data inline).
import { View, parse } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { Bucket, CityRole, Day, ReportData, Role } from './data.js';

const WIDTH = 760;
/** The charts show at most this many cities (the busiest); the table under them lists every one. */
export const MAX_CHART_CITIES = 30;

export const ROLE_LABELS: Record<Role, string> = { customer: 'customer waited', courier: 'courier waited' };
const ROLE_COLORS = { domain: [ROLE_LABELS.customer, ROLE_LABELS.courier], range: ['#2f6f9f', '#d9822b'] };

const CONFIG = {
  font: 'Helvetica, Arial, sans-serif',
  background: 'white',
  view: { stroke: null },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#e6e6e6' },
  legend: { labelFontSize: 12, titleFontSize: 12, orient: 'top', title: null },
} as const;

/** One SVG document for a Vega-Lite specification. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    // Inline in HTML the <svg> element needs no namespace declarations (and the page then holds no URL at all).
    return svg.replace(/ xmlns(:xlink)?="[^"]*"/g, '');
  } finally {
    view.finalize();
  }
}

// Characters a page cannot show as themselves: controls (C0, DEL, C1 with U+0085; XML forbids most
// of them and HTML parsers rewrite NUL and CR), line and paragraph separators (an invisible break),
// direction overrides and isolates (they reorder what follows), lone surrogates and noncharacters.
const UNSHOWABLE = /[\p{Cc}\p{Zl}\p{Zp}\u202a-\u202e\u2066-\u2069\p{Cs}\p{Noncharacter_Code_Point}]/gu;
const NAMED_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A city code as a page shows it: the characters it cannot show written as JSON-style escapes. */
export function visibleText(text: string): string {
  return text.replace(UNSHOWABLE, (c) => {
    const code = c.codePointAt(0)!;
    return NAMED_ESCAPES[c] ?? (code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`);
  });
}

/**
 * How each city is labelled, one label per city: its code (visibleText). A code shown as itself keeps
 * it; an escaped code whose label another city already has, and the conversations without a city yet
 * ("(no city yet)"), get stars added until their label is their own.
 */
export function cityLabels(byCity: CityRole[]): Map<string | null, string> {
  const labels = new Map<string | null, string>();
  const codes = [...new Set(byCity.flatMap((r) => (r.city === null ? [] : [r.city])))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const verbatim = codes.filter((code) => visibleText(code) === code);
  const taken = new Set(verbatim);
  for (const code of verbatim) labels.set(code, code);
  const unique = (label: string) => {
    while (taken.has(label)) label = `${label}*`;
    taken.add(label);
    return label;
  };
  for (const code of codes) if (!labels.has(code)) labels.set(code, unique(visibleText(code)));
  labels.set(null, unique('(no city yet)'));
  return labels;
}

export interface CityTotals {
  city: string | null;
  label: string;
  conversations: number;
  answered: number;
}

/** Cities with both roles added up, busiest first (ties by code), the city-less group last. */
export function cityTotals(byCity: CityRole[]): CityTotals[] {
  const labels = cityLabels(byCity);
  const totals = new Map<string | null, CityTotals>();
  for (const row of byCity) {
    const total = totals.get(row.city) ?? { city: row.city, label: labels.get(row.city)!, conversations: 0, answered: 0 };
    total.conversations += row.conversations;
    total.answered += row.answered;
    totals.set(row.city, total);
  }
  return [...totals.values()].sort((a, b) =>
    Number(a.city === null) - Number(b.city === null) || b.conversations - a.conversations || (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
}

const minutes = (seconds: number | null) => (seconds === null ? null : seconds / 60);

// Orders of categories (cities, buckets) are explicit scale domains, never `sort: [values]`: Vega-Lite
// turns a sort array into expression text (datum.city === "…" ? 0 : …), which Vega's expression parser
// rejects for some strings (U+2028 and U+2029 end a string literal there). A domain stays data.

/** Median (bar) and 90th percentile (tick, joined by a rule) per city, one bar per role that waited. */
export function cityDelaySpec(byCity: CityRole[]): TopLevelSpec {
  const cities = cityTotals(byCity).slice(0, MAX_CHART_CITIES);
  const labels = new Map(cities.map((c) => [c.city, c.label]));
  const values = byCity.filter((r) => labels.has(r.city)).map((r) => ({
    city: labels.get(r.city)!, waited: ROLE_LABELS[r.firstMessageBy], median: minutes(r.medianSeconds), p90: minutes(r.p90Seconds),
    note: r.medianSeconds === null ? `no answer (${r.conversations})` : null,
  }));
  const y = { field: 'city', type: 'nominal', title: null, scale: { domain: cities.map((c) => c.label) }, axis: { labelLimit: 160 } } as const;
  const color = { field: 'waited', type: 'nominal', scale: ROLE_COLORS } as const;
  const yOffset = { field: 'waited', type: 'nominal', scale: { domain: ROLE_COLORS.domain, paddingOuter: 0.5 } } as const;
  return {
    config: CONFIG,
    width: WIDTH,
    height: cities.length * 30,
    data: { values },
    encoding: { y, yOffset, color },
    layer: [
      { mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x: { field: 'median', type: 'quantitative' }, x2: { field: 'p90' } } },
      {
        mark: { type: 'bar', height: 10 },
        encoding: { x: { field: 'median', type: 'quantitative', title: 'minutes until the first answer: median (bar), 90th percentile (tick)', axis: { grid: true, orient: 'top' } } },
      },
      { mark: { type: 'tick', thickness: 2.5, size: 10 }, encoding: { x: { field: 'p90', type: 'quantitative' } } },
      {
        transform: [{ filter: 'datum.note !== null' }],
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 10, color: '#777' },
        encoding: { x: { datum: 0, type: 'quantitative' }, text: { field: 'note' }, color: { value: '#777' } },
      },
    ],
  };
}

/** Share of conversations nobody answered, per city, with the overall share as a dashed rule. */
export function unansweredSpec(byCity: CityRole[], overall: number | null): TopLevelSpec {
  const cities = cityTotals(byCity).slice(0, MAX_CHART_CITIES);
  const values = cities.map((c) => ({
    city: c.label,
    unanswered: c.conversations ? (c.conversations - c.answered) / c.conversations : 0,
    text: `${c.conversations - c.answered} of ${c.conversations}`,
  }));
  const y = { field: 'city', type: 'nominal', title: null, scale: { domain: cities.map((c) => c.label) }, axis: { labelLimit: 160 } } as const;
  const layers: unknown[] = [
    { mark: { type: 'bar', color: '#8c6bb1', height: 14 }, encoding: { x: { field: 'unanswered', type: 'quantitative', title: 'share of conversations never answered', axis: { format: '.0%' }, scale: { domain: [0, 1] } }, y } },
    { mark: { type: 'text', align: 'left', dx: 4, fontSize: 10, color: '#555' }, encoding: { x: { field: 'unanswered', type: 'quantitative' }, y, text: { field: 'text' } } },
  ];
  if (overall !== null) {
    layers.push({ data: { values: [{ overall }] }, mark: { type: 'rule', strokeDash: [4, 3], color: '#333' }, encoding: { x: { field: 'overall', type: 'quantitative' } } });
  }
  return { config: CONFIG, width: WIDTH, height: { step: 20 }, data: { values }, layer: layers } as TopLevelSpec;
}

/** Daily median and 90th percentile; a LOESS trend of the medians once there are enough days. */
export function dailyDelaySpec(daily: Day[]): TopLevelSpec {
  const values = daily.flatMap((d) => [
    { day: d.day, series: 'median', minutes: minutes(d.medianSeconds) },
    { day: d.day, series: '90th percentile', minutes: minutes(d.p90Seconds) },
  ]).filter((v) => v.minutes !== null);
  const x = { field: 'day', type: 'temporal', timeUnit: 'utcyearmonthdate', title: 'day the conversations started (UTC)' } as const;
  const color = { field: 'series', type: 'nominal', scale: { domain: ['median', '90th percentile'], range: ['#2f6f9f', '#9ecae1'] } } as const;
  const dense = daily.length > 60;
  const layers: unknown[] = [
    { mark: { type: 'point', filled: true, size: dense ? 14 : 40, opacity: dense ? 0.6 : 1 }, encoding: { x, y: { field: 'minutes', type: 'quantitative', title: 'minutes until the first answer' }, color } },
  ];
  if (!dense && daily.length > 1) layers.unshift({ mark: { type: 'line', strokeWidth: 1.5 }, encoding: { x, y: { field: 'minutes', type: 'quantitative' }, color } });
  if (daily.length >= 14) {
    layers.push({
      transform: [{ timeUnit: 'utcyearmonthdate', field: 'day', as: 'date' }, { loess: 'minutes', on: 'date', groupby: ['series'] }],
      mark: { type: 'line', strokeWidth: 2.5 },
      encoding: { x: { field: 'date', type: 'temporal' }, y: { field: 'minutes', type: 'quantitative' }, color },
    });
  }
  return { config: CONFIG, width: WIDTH, height: 260, data: { values }, layer: layers } as TopLevelSpec;
}

export interface Period {
  start: string;
  conversations: number;
  unanswered: number;
}

/** Days added up by day, or by month when the data spans more than 92 days (sums stay exact). */
export function periods(daily: Day[]): { unit: 'day' | 'month'; periods: Period[] } {
  const first = daily[0]?.day;
  const last = daily.at(-1)?.day;
  const spanDays = first && last ? (Date.parse(last) - Date.parse(first)) / 86_400_000 : 0;
  const unit = spanDays > 92 ? 'month' : 'day';
  const byStart = new Map<string, Period>();
  for (const d of daily) {
    const start = unit === 'month' ? `${d.day.slice(0, 7)}-01` : d.day;
    const period = byStart.get(start) ?? { start, conversations: 0, unanswered: 0 };
    period.conversations += d.conversations;
    period.unanswered += d.conversations - d.answered;
    byStart.set(start, period);
  }
  return { unit, periods: [...byStart.values()] };
}

/** Conversations per period (bars) and the share nobody answered (line, right axis). */
export function volumeSpec(daily: Day[]): TopLevelSpec {
  const { unit, periods: list } = periods(daily);
  // Periods as ordered labels (a band each), so that one day is one bar, not the whole axis.
  const values = list.map((p) => ({
    period: unit === 'month' ? p.start.slice(0, 7) : p.start, conversations: p.conversations, share: p.conversations ? p.unanswered / p.conversations : null,
  }));
  const x = { field: 'period', type: 'ordinal', title: unit === 'month' ? 'month (UTC)' : 'day (UTC)', axis: { labelAngle: -45, labelOverlap: 'parity' } } as const;
  return {
    config: CONFIG,
    // A few periods get narrow bars rather than one bar across the page.
    width: Math.min(WIDTH, Math.max(160, values.length * 40)),
    height: 220,
    data: { values },
    layer: [
      { mark: { type: 'bar', color: '#b8c9d9' }, encoding: { x, y: { field: 'conversations', type: 'quantitative', title: `conversations per ${unit}` } } },
      {
        mark: { type: 'line', color: '#8c6bb1', strokeWidth: 2, point: { color: '#8c6bb1', size: 24 } },
        encoding: { x, y: { field: 'share', type: 'quantitative', title: 'share never answered', axis: { format: '.0%', titleColor: '#8c6bb1' }, scale: { domain: [0, 1] } } },
      },
    ],
    resolve: { scale: { y: 'independent' } },
  };
}

/** Answered conversations per delay bucket, one bar per role that waited. */
export function distributionSpec(distribution: Bucket[]): TopLevelSpec {
  const order = [...new Map(distribution.map((b) => [b.bucket, b.label])).entries()].sort((a, b) => a[0] - b[0]).map(([, label]) => label);
  const values = distribution.map((b) => ({ bucket: b.label, waited: ROLE_LABELS[b.firstMessageBy], conversations: b.conversations }));
  return {
    config: CONFIG,
    width: WIDTH,
    height: 240,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: { field: 'bucket', type: 'ordinal', scale: { domain: order }, title: 'time until the first answer', axis: { labelAngle: 0 } },
      xOffset: { field: 'waited', type: 'nominal', scale: { domain: ROLE_COLORS.domain } },
      y: { field: 'conversations', type: 'quantitative', title: 'answered conversations' },
      color: { field: 'waited', type: 'nominal', scale: ROLE_COLORS },
    },
  };
}

export interface Charts {
  cityDelay: string;
  unanswered: string;
  dailyDelay: string;
  volume: string;
  distribution: string;
}

export async function renderCharts(data: ReportData): Promise<Charts> {
  return {
    cityDelay: await renderSvg(cityDelaySpec(data.byCity)),
    unanswered: await renderSvg(unansweredSpec(data.byCity, data.summary.answeredShare === null ? null : 1 - data.summary.answeredShare)),
    dailyDelay: await renderSvg(dailyDelaySpec(data.daily)),
    volume: await renderSvg(volumeSpec(data.daily)),
    distribution: await renderSvg(distributionSpec(data.distribution)),
  };
}
