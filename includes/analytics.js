// What the analyst models (definitions/analytics) share: exact percentiles computed the same way on
// both engines, the delay buckets of the distribution, the days an incremental run touches, and the
// contracts of the analytics tables with their per-run checks. BigQuery SQL; where the engines
// differ it goes through includes/dialect.js and includes/increment.js.

// The percentiles every model reports, as whole percents: PERCENTILE_DISC semantics (see below).
const PERCENTILES = [
  ["median_delay_seconds", 50],
  ["p90_delay_seconds", 90],
].map(([column, percent]) => ({
  column,
  percent
}));

/**
 * How a running count k of n reaches a percentile, as `k * 100 <op> percent * n`. BigQuery's
 * PERCENTILE_DISC compares k / n with the FLOAT64 of percent / 100 exactly, and 0.9 is stored as
 * 0.90000000000000002...: 9 of 10 is not yet its 90th percentile, 10 of 10 is. So the comparison is
 * strict where that FLOAT64 lies above the decimal (0.9), and not where it equals it (0.5).
 */
function reachedAt(percent) {
  const stored = (percent / 100).toPrecision(30);
  const decimal = (percent / 100).toFixed(2).padEnd(stored.length, "0");
  return stored > decimal ? ">" : ">=";
}

/**
 * Response-time statistics of `relation` (conversations_by_day, or a subquery with its columns) per
 * group of `keys` (none: one row over everything), with an optional WHERE condition.
 *
 * The percentiles are exact and discrete, equal to BigQuery's PERCENTILE_DISC: the smallest delay d
 * such that at least p% of the group's answered conversations waited d seconds or less (more than
 * 90% for p90 when exactly 90% did, see reachedAt). So a median is a delay some conversation really
 * had, in whole seconds, and "90% were answered within p90" holds exactly.
 * They are computed from a histogram (one row per group and distinct delay) and running counts, in
 * plain SQL that both engines evaluate alike: APPROX_QUANTILES would not equal DuckDB's exact
 * quantiles, and BigQuery's analytic PERCENTILE_DISC sorts every row of a group on one worker,
 * where a GROUP BY first shrinks the data to its distinct delays. The comparisons are integer
 * arithmetic, so no floating-point rounding decides which delay is the percentile.
 */
function responseTimes(relation, keys, where) {
  keys.forEach(checkIdentifier);
  const list = keys.join(", ");
  const partition = keys.length ? `PARTITION BY ${list}` : "";
  const answered = "IF(delay_seconds IS NULL, 0, conversations)";
  const percentiles = PERCENTILES.map(
    (p) => `MIN(IF(delay_seconds IS NOT NULL AND answered_up_to * 100 ${reachedAt(p.percent)} ${p.percent} * answered_in_group, delay_seconds, NULL)) AS ${p.column}`,
  );
  return `WITH histogram AS (
  SELECT ${keys.map((k) => `${k}, `).join("")}first_responsetime_delay_seconds AS delay_seconds, COUNT(*) AS conversations, ${dialect.sumInt64("messages")} AS messages
  FROM ${relation}${where ? `\n  WHERE ${where}` : ""}
  GROUP BY ${keys.map((k) => `${k}, `).join("")}first_responsetime_delay_seconds
),

running AS (
  SELECT
    *,
    -- The NULL (unanswered) row adds 0 wherever the engine sorts NULLs.
    SUM(${answered}) OVER (${partition} ORDER BY delay_seconds ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS answered_up_to,
    SUM(${answered}) OVER (${partition}) AS answered_in_group
  FROM histogram
),

totals AS (
  SELECT
    ${keys.map((k) => `${k},\n    `).join("")}COALESCE(${dialect.sumInt64("conversations")}, 0) AS conversations,
    COALESCE(${dialect.sumInt64(answered)}, 0) AS answered,
    ${percentiles.join(",\n    ")},
    ${dialect.sumInt64("delay_seconds * conversations")} AS delay_seconds_total,
    ${dialect.sumInt64("messages")} AS messages
  FROM running${keys.length ? `\n  GROUP BY ${list}` : ""}
)

SELECT
  ${keys.map((k) => `${k},\n  `).join("")}conversations,
  answered,
  ROUND(answered / NULLIF(conversations, 0), 4) AS answered_share,
  ${PERCENTILES.map((p) => p.column).join(",\n  ")},
  ROUND(delay_seconds_total / NULLIF(answered, 0), 1) AS mean_delay_seconds,
  ROUND(messages / NULLIF(conversations, 0), 2) AS messages_per_conversation
FROM totals`;
}

// Buckets of the delay distribution, [from, to) seconds; the last one is open. Fine where most
// answers fall (the first minutes), coarse in the tail.
const DELAY_BUCKETS = [
  [0, 30, "< 30 s"],
  [30, 60, "30-60 s"],
  [60, 120, "1-2 min"],
  [120, 300, "2-5 min"],
  [300, 600, "5-10 min"],
  [600, 900, "10-15 min"],
  [900, 1800, "15-30 min"],
  [1800, 3600, "30-60 min"],
  [3600, 7200, "1-2 h"],
  [7200, 14400, "2-4 h"],
  [14400, 86400, "4-24 h"],
  [86400, null, "1 day or more"],
].map(([from, to, label]) => ({
  from,
  to,
  label
}));

// DuckDB types an integer literal as a 32-bit INTEGER; CAST to INT64 (DuckDB's name for BIGINT too)
// makes the columns INT64 on both engines.
const int64 = (sql) => `CAST(${sql} AS INT64)`;

/** The bucket number (1 = fastest) of a delay in seconds; NULL for NULL (unanswered). */
function delayBucket(delay) {
  const cases = DELAY_BUCKETS.map((b, i) => (b.to === null ? `ELSE ${i + 1}` : `WHEN ${delay} < ${b.to} THEN ${i + 1}`));
  return int64(`CASE WHEN ${delay} IS NULL THEN NULL ${cases.join(" ")} END`);
}

/** The bucket's label, lower bound and upper bound (exclusive; NULL for the open last bucket), from its number. */
function delayBucketColumns(bucket) {
  const pick = (value) => `CASE ${bucket} ${DELAY_BUCKETS.map((b, i) => `WHEN ${i + 1} THEN ${value(b)}`).join(" ")} END`;
  return [
    `${pick((b) => `'${b.label}'`)} AS delay_bucket_label`,
    `${int64(pick((b) => String(b.from)))} AS delay_from_seconds`,
    `${int64(pick((b) => (b.to === null ? "NULL" : String(b.to))))} AS delay_to_seconds`,
  ].join(",\n  ");
}

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function checkIdentifier(name) {
  if (!IDENTIFIER.test(name)) throw new Error(`analytics: bad column name ${name}`);
  return name;
}

/**
 * Pre-operation: the days whose rows this run may change, as the DATE array `touched_days`. A
 * conversation's day is the day of its first message, and a run only adds messages to an order (or
 * changes its city), so the day a touched order had before the run and the day it has now are both
 * days of its messages: the days of every message of the touched orders, read through their order
 * id partitions. Needs `touched_order_keys` (increment.declareTouchedOrders) declared before it.
 */
function declareTouchedDays(conversations) {
  return increment.declareArray("touched_days", "DATE", "CAST(sent_at AS DATE)", `${conversations} WHERE ${increment.touchedOrders()}`);
}

/** Rows of the days this run touched: `column` is the DATE partitioning column. */
function touchedDays(column = "day") {
  return increment.inArray(column, "touched_days");
}

/**
 * Pre-operation of a table recomputed by whole days: its rows of the touched days go, and the
 * incremental INSERT writes those days again. A MERGE could not do it: a group that no longer
 * exists (a city corrected away from a day) has no source row to match and would stay.
 */
function deleteTouchedDays(table) {
  return `DELETE FROM ${table} WHERE ${touchedDays()}`;
}

const STATS_CONDITIONS = [
  "conversations >= 1",
  "answered >= 0 AND answered <= conversations",
  "answered_share >= 0 AND answered_share <= 1",
  "(median_delay_seconds IS NULL) = (answered = 0)",
  "(p90_delay_seconds IS NULL) = (answered = 0)",
  "(mean_delay_seconds IS NULL) = (answered = 0)",
  "median_delay_seconds IS NULL OR (median_delay_seconds >= 0 AND median_delay_seconds <= p90_delay_seconds)",
  "messages_per_conversation >= 1",
];

// The contract of each analytics relation: checked per run on the touched days (incremental tables,
// in their post-operations) and over every row by the audit assertions (definitions/analytics/audits.js),
// both through includes/checks.js.
const contracts = {
  conversations_by_day: {
    uniqueKey: ["order_id"],
    nonNull: ["day", "order_id", "first_message_by", "conversation_started_at", "messages", "last_published_at"],
    rowConditions: [
      "day = CAST(conversation_started_at AS DATE)",
      "first_message_by IN ('courier', 'customer')",
      "messages >= 1",
      "first_responsetime_delay_seconds IS NULL OR first_responsetime_delay_seconds >= 0",
    ],
    // Per run, its post-operation checks the days this run touched.
    touched: "days",
  },
  response_times_daily: {
    uniqueKey: ["day"],
    nonNull: ["day", "conversations", "answered", "answered_share", "messages_per_conversation"],
    rowConditions: STATS_CONDITIONS,
    touched: "days",
  },
  response_times_daily_by_city: {
    uniqueKey: ["day", "city_code"],
    nonNull: ["day", "conversations", "answered", "answered_share", "messages_per_conversation"],
    rowConditions: STATS_CONDITIONS,
    touched: "days",
  },
  response_time_distribution: {
    uniqueKey: ["day", "city_code", "first_message_by", "delay_bucket"],
    nonNull: ["day", "first_message_by", "delay_bucket", "delay_bucket_label", "delay_from_seconds", "conversations"],
    rowConditions: [
      "conversations >= 1",
      `delay_bucket BETWEEN 1 AND ${DELAY_BUCKETS.length}`,
      "delay_to_seconds IS NULL OR delay_from_seconds < delay_to_seconds",
    ],
    touched: "days",
  },
  response_times_by_city: {
    uniqueKey: ["city_code", "first_message_by"],
    nonNull: ["first_message_by", "conversations", "answered", "answered_share", "messages_per_conversation"],
    rowConditions: STATS_CONDITIONS,
  },
  response_times_summary: {
    uniqueKey: [],
    nonNull: ["conversations", "answered", "cities"],
    // One row, also over an empty warehouse (then 0 conversations and NULL statistics).
    rowConditions: [
      "conversations = 0 OR answered_share IS NOT NULL",
      "answered_share IS NULL OR (answered_share >= 0 AND answered_share <= 1)",
      "median_delay_seconds IS NULL OR median_delay_seconds <= p90_delay_seconds",
      "(median_delay_seconds IS NULL) = (answered = 0)",
      "first_conversation_started_at IS NULL OR first_conversation_started_at <= last_conversation_started_at",
    ],
  },
};

module.exports = {
  PERCENTILES,
  DELAY_BUCKETS,
  responseTimes,
  delayBucket,
  delayBucketColumns,
  declareTouchedDays,
  touchedDays,
  deleteTouchedDays,
  contracts,
};
