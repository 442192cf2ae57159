// Full-table audits of the analytics contracts (includes/analytics.js, checked by includes/checks.js): the per-run checks of the
// incremental tables over every row, and the rules the views must keep. They read whole tables, so
// they carry the `audit` tag and run on the audits' schedule, like definitions/assertions/audits.js.

Object.keys(analytics.contracts).forEach((name) => {
  const key = checks.contractOf(name).uniqueKey;
  assert(`audit_${name}_unique_key`)
    .tags(["audit", "analytics"])
    .description(key.length ? `No two rows of ${name} share ${key.join(", ")} (whole table).` : `${name} has exactly one row.`)
    .query((ctx) => checks.uniqueKeyQuery(name, ctx.ref(name)));
  assert(`audit_${name}_row_conditions`)
    .tags(["audit", "analytics"])
    .description(`Every row of ${name} meets its non-NULL columns and row conditions (whole table).`)
    .query((ctx) => checks.rowConditionsQuery(name, ctx.ref(name)));
});

// The analytics tables add up to the conversations they come from: none lost or counted twice
// between customer_courier_conversations, conversations_by_day, the daily series and the distribution.
assert("audit_analytics_reconcile")
  .tags(["audit", "analytics"])
  .description("conversations_by_day holds every conversation once; both daily series and the distribution count them all.")
  .query(
    (ctx) => `SELECT *
FROM (SELECT COUNT(*) AS conversations, ${dialect.countIf("first_responsetime_delay_seconds IS NOT NULL")} AS answered FROM ${ctx.ref("customer_courier_conversations")})
CROSS JOIN (SELECT COUNT(*) AS by_day FROM ${ctx.ref("conversations_by_day")})
CROSS JOIN (SELECT COALESCE(${dialect.sumInt64("conversations")}, 0) AS daily, COALESCE(${dialect.sumInt64("answered")}, 0) AS daily_answered FROM ${ctx.ref("response_times_daily")})
CROSS JOIN (SELECT COALESCE(${dialect.sumInt64("conversations")}, 0) AS by_city, COALESCE(${dialect.sumInt64("answered")}, 0) AS by_city_answered FROM ${ctx.ref("response_times_daily_by_city")})
CROSS JOIN (SELECT COALESCE(${dialect.sumInt64("conversations")}, 0) AS distributed FROM ${ctx.ref("response_time_distribution")})
WHERE by_day != conversations OR daily != conversations OR daily_answered != answered OR by_city != conversations OR by_city_answered != answered
  OR distributed != answered`,
  );
