// An independent, deliberately plain reading of ../shared/SPEC.md in TypeScript, used to compute
// expected results for data too large to work out by hand (the anchors). It shares no code with the
// SQL models; the event_id of a delivery comes from its attributes like the models' does.
import { createHash } from 'node:crypto';
import { Timestamp } from '../../orchestrator/warehouse/warehouse.js';

export interface Delivery {
  data: string;
  publishTime: string;
  messageId: string;
  attributes: Record<string, string | undefined>;
}

export interface SpecRow {
  order_id: number;
  city_code: string | null;
  first_courier_message: string | null;
  first_customer_message: string | null;
  num_messages_courier: number;
  num_messages_customer: number;
  first_message_by: 'courier' | 'customer';
  conversation_started_at: string;
  first_responsetime_delay_seconds: number | null;
  last_message_time: string;
  last_message_order_stage: string | null;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt]([01]\d|2[0-3]):([0-5]\d):([0-5]\d)(?:\.(\d+))?([Zz]|([+-])([01]\d|2[0-3]):([0-5]\d))$/;

const TIMESTAMP_MIN = -62135596800000000n;
const TIMESTAMP_MAX = 253402300799999999n;

/** Microseconds since the epoch, or null when not a valid RFC 3339 timestamp in BigQuery's range. */
export function parseRfc3339(text: unknown): bigint | null {
  if (typeof text !== 'string') return null;
  const m = RFC3339.exec(text);
  if (!m) return null;
  const [, y, mo, d, h, mi, s, fraction, zone, sign, oh, om] = m;
  // Not Date.UTC, which reads years 0 to 99 as 1900 to 1999.
  const check = new Date(0);
  check.setUTCFullYear(+y, +mo - 1, +d);
  check.setUTCHours(+h, +mi, +s);
  if (check.getUTCDate() !== +d || check.getUTCMonth() !== +mo - 1) return null;
  const millis = check.getTime();
  let micros = BigInt(millis) * 1000n + BigInt(((fraction as string | undefined) ?? '').slice(0, 6).padEnd(6, '0'));
  if (zone !== 'Z' && zone !== 'z') {
    // BigQuery takes UTC offsets up to 14:00 either way.
    if (+oh * 60 + +om > 14 * 60) return null;
    const offsetMinutes = BigInt(+oh * 60 + +om);
    micros -= (sign === '+' ? 1n : -1n) * offsetMinutes * 60_000_000n;
  }
  // BigQuery's TIMESTAMP range: 0001-01-01 to 9999-12-31 23:59:59.999999 UTC.
  return micros >= TIMESTAMP_MIN && micros <= TIMESTAMP_MAX ? micros : null;
}

/** SPEC's export format of a timestamp (the models' own tests pin it with literal strings). */
const formatMicros = (micros: bigint): string => new Timestamp(micros).toRfc3339();

function orderIdOf(value: unknown): number | null {
  if (typeof value === 'number' && Number.isInteger(value) && value > 0) return value;
  if (typeof value === 'string' && /^\d+$/.test(value) && BigInt(value) > 0n && BigInt(value) < 2n ** 63n) return Number(value);
  return null;
}

/** Trimmed of Unicode white space, as BigQuery's TRIM does (JavaScript's trim also removes U+FEFF and keeps U+0085). */
const trimmed = (text: string) => text.replace(/^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g, '');

function roleOf(event: Record<string, unknown>): 'courier' | 'customer' | null {
  const app = typeof event.senderAppType === 'string' ? trimmed(event.senderAppType).toLowerCase() : '';
  if (app.startsWith('courier')) return 'courier';
  if (app.startsWith('customer')) return 'customer';
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined);
  if (text(event.fromId) !== undefined && text(event.fromId) === text(event.courierId)) return 'courier';
  if (text(event.fromId) !== undefined && text(event.fromId) === text(event.customerId)) return 'customer';
  return null;
}

interface Message { orderId: number; eventId: string; role: 'courier' | 'customer'; sentAt: bigint; started: boolean; stage: string | null }

/** Expected customer_courier_conversations rows, sorted by order_id, plus the count of distinct rejects. */
export function expectedResult(deliveries: Delivery[]): { rows: SpecRow[]; rejected: number; messages: number } {
  const firstDelivery = new Map<string, Delivery>();
  const sorted = [...deliveries].sort((a, b) => Date.parse(a.publishTime) - Date.parse(b.publishTime) || (a.messageId < b.messageId ? -1 : 1));
  for (const d of sorted) {
    const id = d.attributes.event_id || createHash('sha256').update(`${d.attributes.source ?? ''}#${d.attributes.position ?? ''}#${d.data}`).digest('hex');
    if (!firstDelivery.has(id)) firstDelivery.set(id, d);
  }
  const messages: Message[] = [];
  const cities = new Map<number, { city: string; published: number; eventId: string }>();
  let rejected = 0;
  for (const [id, d] of firstDelivery) {
    let event: unknown;
    try { event = JSON.parse(d.data); } catch { rejected++; continue; }
    if (event === null || typeof event !== 'object' || Array.isArray(event)) { rejected++; continue; }
    const e = event as Record<string, unknown>;
    const orderId = orderIdOf(e.orderId);
    const isMessage = e.messageSentTime !== undefined && e.messageSentTime !== null;
    const isOrder = !isMessage && e.cityCode !== undefined && e.cityCode !== null;
    if ((!isMessage && !isOrder) || orderId === null) { rejected++; continue; }
    if (isMessage) {
      const sentAt = parseRfc3339(e.messageSentTime);
      const role = roleOf(e);
      if (sentAt === null || role === null) { rejected++; continue; }
      const stage = typeof e.orderStage === 'string' ? e.orderStage : null;
      messages.push({ orderId, eventId: id, role, sentAt, started: e.chatStartedByMessage === true, stage });
    } else {
      if (typeof e.cityCode !== 'string' || trimmed(e.cityCode) === '') { rejected++; continue; }
      const published = Date.parse(d.publishTime);
      const current = cities.get(orderId);
      if (!current || published > current.published || (published === current.published && id > current.eventId)) {
        cities.set(orderId, { city: e.cityCode, published, eventId: id });
      }
    }
  }
  const byOrder = new Map<number, Message[]>();
  for (const m of messages) byOrder.set(m.orderId, [...(byOrder.get(m.orderId) ?? []), m]);
  const rows: SpecRow[] = [];
  for (const [orderId, list] of byOrder) {
    list.sort((a, b) => (a.sentAt < b.sentAt ? -1 : a.sentAt > b.sentAt ? 1 : 0) || Number(b.started) - Number(a.started) || (a.eventId < b.eventId ? -1 : 1));
    const first = list[0];
    const last = list[list.length - 1];
    const earliest = (role: string) => list.filter((m) => m.role === role).map((m) => m.sentAt).reduce<bigint | null>((min, t) => (min === null || t < min ? t : min), null);
    const courier = earliest('courier');
    const customer = earliest('customer');
    const other = first.role === 'courier' ? customer : courier;
    rows.push({
      order_id: orderId,
      city_code: cities.get(orderId)?.city ?? null,
      first_courier_message: courier === null ? null : formatMicros(courier),
      first_customer_message: customer === null ? null : formatMicros(customer),
      num_messages_courier: list.filter((m) => m.role === 'courier').length,
      num_messages_customer: list.filter((m) => m.role === 'customer').length,
      first_message_by: first.role,
      conversation_started_at: formatMicros(first.sentAt),
      first_responsetime_delay_seconds: other === null ? null : Number((other - first.sentAt) / 1_000_000n),
      last_message_time: formatMicros(last.sentAt),
      last_message_order_stage: last.stage,
    });
  }
  rows.sort((a, b) => a.order_id - b.order_id);
  return { rows, rejected, messages: messages.length };
}
