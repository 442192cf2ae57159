// Settings and column lists shared by the models, read once from dataform.json's vars.

const vars = dataform.projectConfig.vars;

const lookbackMinutes = vars.lookbackMinutes || "60";
if (!/^[0-9]+$/.test(lookbackMinutes)) {
  throw new Error(`var lookbackMinutes must be a whole number of minutes, got ${JSON.stringify(lookbackMinutes)}`);
}

// The columns a validated event carries through deduplication (stg_raw_events -> stg_events).
const eventColumns = [
  "event_type",
  "reject_reason",
  "order_id",
  "sent_at",
  "sender_role",
  "city_code",
  "sender_app_type",
  "from_id",
  "to_id",
  "courier_id",
  "customer_id",
  "chat_started_by_message",
  "order_stage",
  "data",
  "attributes",
].join(",\n    ");

module.exports = { lookbackMinutes, eventColumns };
