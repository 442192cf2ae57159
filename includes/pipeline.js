// Column lists shared by the models.

// The columns a validated event carries from stg_raw_events through stg_pending_deliveries.
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
];

module.exports = { eventColumns: eventColumns.join(",\n  "), eventColumnList: eventColumns };
