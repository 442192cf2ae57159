// Column lists shared by the models.

// The columns stg_raw_events parses out of each delivery, carried on by stg_pending_deliveries.
const parsedColumns = [
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
];

// The columns stg_events keeps for each event after its identity and delivery times: the parsed
// fields, the order key every lookup goes through, and the raw text of rejects (see stg_events).
const eventLogColumns = [...parsedColumns, "order_key", "data", "attributes"];

module.exports = { parsedColumns: parsedColumns.join(",\n  "), eventLogColumns: eventLogColumns.join(",\n  ") };
