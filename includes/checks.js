// The data contract of each model table, in one place: its unique key, its non-NULL columns and
// the conditions every row meets. It is checked two ways:
// - per run, in the table's post-operations, on the rows the run touched only (cheap: the same
//   cluster filters as the run itself), so a bad row fails the run that wrote it;
// - by the full-table audit assertions (definitions/assertions/audits.js, tag `audit`), for a
//   scheduled, less frequent run.

const contracts = {
  stg_events: {
    uniqueKey: ["event_id"],
    nonNull: ["event_id", "first_message_id", "first_published_at", "last_published_at"],
    rowConditions: [
      "first_published_at <= last_published_at",
      "reject_reason IS NOT NULL OR event_type IS NOT NULL",
      "(reject_reason IS NULL) = (raw_data IS NULL)",
    ],
    touched: "events",
  },
  conversations: {
    uniqueKey: ["event_id"],
    nonNull: ["event_id", "order_id", "sender_role", "sent_at"],
    rowConditions: ["sender_role IN ('courier', 'customer')", "order_id > 0"],
    touched: "orders",
  },
  orders: {
    uniqueKey: ["order_id"],
    nonNull: ["order_id", "city_code", "city_event_id"],
    rowConditions: ["order_events >= 1"],
    touched: "orders",
  },
  rejected_events: {
    uniqueKey: ["event_id"],
    nonNull: ["event_id", "reason", "message_id", "publish_time"],
    // A getter: other includes are globals only once every include has loaded.
    get rowConditions() {
      return [`reason IN (${pipeline.rejectReasonSql})`];
    },
    // It has no order_id: the partition filter bounds the lookup of the touched events.
    touched: "eventIds",
    // rejected_events requires a partition filter: a run reads the partitions of the rejects it
    // touched; a first build and the audit read every partition, on purpose.
    partitionFilter(isIncremental) {
      if (isIncremental) return `publish_time >= ${increment.variable("rejected_from")}`;
      return `publish_time >= ${dialect.timestampLiteral("1970-01-01 00:00:00+00")}`;
    },
  },
  customer_courier_conversations: {
    uniqueKey: ["order_id"],
    nonNull: [
      "order_id",
      "num_messages_courier",
      "num_messages_customer",
      "first_message_by",
      "conversation_started_at",
      "last_message_time",
    ],
    rowConditions: [
      "first_message_by IN ('courier', 'customer')",
      "num_messages_courier >= 0 AND num_messages_customer >= 0",
      "num_messages_courier + num_messages_customer >= 1",
      "conversation_started_at <= last_message_time",
      "(first_courier_message IS NULL) = (num_messages_courier = 0)",
      "(first_customer_message IS NULL) = (num_messages_customer = 0)",
      "IF(first_message_by = 'courier', first_courier_message, first_customer_message) = conversation_started_at",
      "(first_responsetime_delay_seconds IS NULL) = (IF(first_message_by = 'courier', first_customer_message, first_courier_message) IS NULL)",
      "first_responsetime_delay_seconds IS NULL OR first_responsetime_delay_seconds >= 0",
    ],
    touched: "orders",
  },
};

/** The contract of a model table here, or of an analytics relation (includes/analytics.js). */
function contractOf(table) {
  const contract = contracts[table] ?? analytics.contracts[table];
  if (!contract) throw new Error(`no contract for table ${table}`);
  return contract;
}

/** Every condition a row must meet: the non-NULL columns first, then the row conditions. */
function conditionsOf(table) {
  const contract = contractOf(table);
  return [...contract.nonNull.map((c) => `${c} IS NOT NULL`), ...contract.rowConditions];
}

const quote = (text) => `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** Rows breaking a condition, labelled like Dataform's built-in rowConditions assertion. */
function rowConditionsQuery(table, relation, where) {
  const filter = where ? ` AND (${where})` : "";
  return conditionsOf(table)
    .map((condition) => `SELECT ${quote(condition)} AS failing_row_condition, * FROM ${relation} WHERE NOT (${condition})${filter}`)
    .join("\nUNION ALL\n");
}

/**
 * Keys held by more than one row, like Dataform's built-in uniqueKey assertion (NULL keys group
 * together); for a one-row relation (no key), any row count but one.
 */
function uniqueKeyQuery(table, relation, where) {
  const key = contractOf(table).uniqueKey.join(", ");
  const filter = where ? ` WHERE ${where}` : "";
  if (!key) return `SELECT COUNT(*) AS index_row_count FROM ${relation}${filter} HAVING COUNT(*) != 1`;
  return `SELECT ${key}, COUNT(*) AS index_row_count FROM ${relation}${filter} GROUP BY ${key} HAVING COUNT(*) > 1`;
}

function touchedRows(kind) {
  if (kind === "orders") return increment.touchedOrders();
  if (kind === "events") return increment.touchedEvents();
  if (kind === "eventIds") return increment.inArray("event_id", "touched_event_ids");
  if (kind === "days") return analytics.touchedDays();
  throw new Error(`unknown kind of touched rows: ${kind}`);
}

/** The rows of `table` a check reads: those the run touched (its orders, or its events, see
 * includes/increment.js), or every row; always with a partition filter where the table needs one. */
function scopeOf(table, isIncremental) {
  const contract = contractOf(table);
  const filters = [];
  if (contract.partitionFilter) filters.push(contract.partitionFilter(isIncremental));
  if (isIncremental && contract.touched) filters.push(touchedRows(contract.touched));
  return filters.length ? filters.map((f) => `(${f})`).join(" AND ") : undefined;
}

/**
 * Post-operation: the contract holds on the rows this run touched (on every row after a first
 * build): one statement, so the table is read once. The touched rows are selected once, in a CTE:
 * repeated in every condition's branch, the lookup through the touched-key arrays cost DuckDB one
 * pass over the arrays per branch (21 CPU seconds for a run that touched a million events).
 */
function contractCheck(table, relation, isIncremental) {
  const scope = scopeOf(table, isIncremental);
  const rows = scope ? "touched_rows" : relation;
  const cte = scope ? `WITH touched_rows AS (SELECT * FROM ${relation} WHERE ${scope}) ` : "";
  return increment.assertNoRows(
    `${table} unique key or row conditions`,
    `${cte}SELECT 1 FROM (${uniqueKeyQuery(table, rows)}) UNION ALL SELECT 1 FROM (${rowConditionsQuery(table, rows)})`,
  );
}

module.exports = {
  contracts,
  contractOf,
  scopeOf,
  conditionsOf,
  rowConditionsQuery,
  uniqueKeyQuery,
  contractCheck
};
