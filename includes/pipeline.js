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
const eventLogColumns = [...parsedColumns, "order_key", "raw_data", "attributes"];

// Every reason an event can be rejected for, in the order stg_raw_events tests them.
const rejectReasons = [
  "too_large",
  "invalid_json",
  "not_an_object",
  "unknown_event_type",
  "invalid_order_id",
  "invalid_message_sent_time",
  "unknown_sender",
  "invalid_city_code",
];

module.exports = {
  rejectReasons,
  rejectReasonList: rejectReasons.join(", "),
  rejectReasonSql: rejectReasons.map((reason) => `'${reason}'`).join(", "),
  parsedColumns: parsedColumns.join(",\n  "),
  eventLogColumns: eventLogColumns.join(",\n  "),
};
