// Full-table audits of every model table's contract (includes/checks.js): the same checks each run
// makes on the rows it touched, over every row. They scan whole tables, so they carry the `audit`
// tag and run on their own schedule (`orchestrator transform --tags audit`), not with every run.

Object.keys(checks.contracts).forEach((table) => {
  const scope = checks.scopeOf(table, false);
  assert(`audit_${table}_unique_key`)
    .tags(["audit"])
    .description(`No two rows of ${table} share ${checks.contractOf(table).uniqueKey.join(", ")} (whole table).`)
    .query((ctx) => checks.uniqueKeyQuery(table, ctx.ref(table), scope));
  assert(`audit_${table}_row_conditions`)
    .tags(["audit"])
    .description(`Every row of ${table} meets its non-NULL columns and row conditions (whole table).`)
    .query((ctx) => checks.rowConditionsQuery(table, ctx.ref(table), scope));
});
