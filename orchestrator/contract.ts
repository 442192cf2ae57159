/** SPEC's columns of customer_courier_conversations, in export order. */
export const CONVERSATION_COLUMNS = [
  'order_id', 'city_code', 'first_courier_message', 'first_customer_message', 'num_messages_courier',
  'num_messages_customer', 'first_message_by', 'conversation_started_at', 'first_responsetime_delay_seconds',
  'last_message_time', 'last_message_order_stage',
];

export const FINAL_TABLE = 'customer_courier_conversations';
