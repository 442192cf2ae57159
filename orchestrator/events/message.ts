import { eventId } from './eventId.js';
import type { SourceRecord } from './reader.js';

/** What the publisher sends for one source record: the record's original text and its provenance. */
export interface EventMessage {
  data: string;
  attributes: Record<string, string>;
}

/**
 * Pub/Sub refuses a message whose data and attributes exceed 10 MB (10,000,000 bytes), and so does the
 * publish request that carries it. The attributes this project sets take well under 1 KB, and the
 * request envelope a few bytes more: a record is sent as it is while its text leaves that much room.
 */
export const MAX_RECORD_BYTES = 10_000_000 - 4_096;

/** How much of an oversized record its stand-in keeps, so that an operator can tell what it was. */
const TOO_LARGE_PREFIX_CHARS = 1_024;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

function prefixOf(text: string, chars: number): string {
  const cut = text.slice(0, chars);
  // Never end on half of a surrogate pair: the data must stay valid UTF-8.
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/**
 * A record becomes one message whatever it holds: bad records are published too, so that staging
 * rejects them with a reason. `event_id` is set only for JSON objects (SPEC's canonical hash).
 * A record that is not JSON carries `rejected=invalid_json`. A record too large for Pub/Sub is
 * replaced by a small stand-in (its first characters, attributes `rejected=too_large` and `bytes`),
 * which staging rejects as `too_large`: it is kept and counted like every other reject instead of
 * failing the publish.
 */
export function toEventMessage(record: SourceRecord, source: string): EventMessage {
  const attributes: Record<string, string> = { source, position: String(record.position), line: String(record.line) };
  const bytes = Buffer.byteLength(record.text, 'utf8');
  if (bytes > MAX_RECORD_BYTES) {
    return { data: prefixOf(record.text, TOO_LARGE_PREFIX_CHARS), attributes: { ...attributes, rejected: 'too_large', bytes: String(bytes) } };
  }
  // The reader's verdict travels with a record that is not JSON, so that staging does not judge it
  // again with each engine's own parser (they disagree on depth: BigQuery stops at 500 levels).
  if (record.error !== undefined) attributes.rejected = 'invalid_json';
  else if (isPlainObject(record.value)) attributes.event_id = eventId(record.value);
  return { data: record.text, attributes };
}

export const isTooLarge = (message: EventMessage): boolean => message.attributes.rejected === 'too_large';
