import { eventId } from './eventId.js';
import type { SourceRecord } from './reader.js';

/** What the publisher sends for one source record: the record's original text and its provenance. */
export interface EventMessage {
  data: string;
  attributes: Record<string, string>;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * A record becomes one message whatever it holds: bad records are published too, so that staging
 * rejects them with a reason. `event_id` is set only for JSON objects (SPEC's canonical hash).
 */
export function toEventMessage(record: SourceRecord, source: string): EventMessage {
  const attributes: Record<string, string> = { source, position: String(record.position), line: String(record.line) };
  if (isPlainObject(record.value)) attributes.event_id = eventId(record.value);
  return { data: record.text, attributes };
}
