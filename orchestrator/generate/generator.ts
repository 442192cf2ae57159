import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { UserError } from '../errors.js';

export interface GenerateOptions {
  conversations: number;
  seed: number;
  start: Date;
  /** Share of events emitted a second time later, with their keys reordered. */
  duplicateRate?: number;
  /** Share of events written 10-60 minutes (of event time) after their place. */
  lateRate?: number;
  /** Share of conversations followed by one invalid line. */
  badLineRate?: number;
  /** Index of the first conversation: order ids grow with it, so a later file can continue an earlier one. */
  firstConversation?: number;
  onProgress?: (conversations: number) => void;
}

export interface GenerateSummary {
  events: number;
  conversations: number;
  messages: number;
  orders: number;
  duplicates: number;
  late: number;
  badLines: number;
  bytes: number;
  /** The smallest and largest order id written. */
  orderIds: { first: number; last: number };
}

/**
 * Order ids: 10,000,000 + (conversation index) x 100 + (seed mod 100), plus 1,000,000,000 per
 * hundred seeds. Two seeds never share an id, a seed's ids grow with the conversation index (so
 * --first-conversation continues an earlier file, and a batch touches few order-id partitions), and
 * seeds 0-99 stay inside the models' order-id partitioning (0 to 1,000,000,000).
 */
const ORDER_ID_BASE = 10_000_000;
const SEEDS_PER_BLOCK = 100;
const BLOCK = 1_000_000_000;
/** Conversations per seed before its ids would reach the next block of seeds. */
export const MAX_CONVERSATION_INDEX = (BLOCK - ORDER_ID_BASE) / SEEDS_PER_BLOCK;
/** Keeps every id a safe integer. */
export const MAX_SEED = 999_999;

export function orderIdOf(seed: number, conversation: number): number {
  return ORDER_ID_BASE + Math.floor(seed / SEEDS_PER_BLOCK) * BLOCK + conversation * SEEDS_PER_BLOCK + (seed % SEEDS_PER_BLOCK);
}

/** mulberry32: small, fast and deterministic for a seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CITIES = ['BCN', 'MAD', 'LIS', 'IST', 'SYD', 'TOK', 'LON', 'CPT', 'MIL', 'ROM', 'KIV', 'WAW', 'BUC', 'ACC', 'NBO', 'CAI', 'TBS', 'BEG', 'SOF', 'ZAG'];
const STAGES = ['ACCEPTED', 'AWAITING_PICKUP', 'PICKING_UP', 'IN_PROGRESS', 'OUT_FOR_DELIVERY', 'ARRIVING', 'DELIVERED'];
const BAD_LINES = [
  '{"orderId": 12345678, "messageSentTime": ',
  'this is not json',
  '{"orderId": "12ab", "cityCode": "BCN"}',
  '{"orderId": 12345678, "cityCode": ""}',
  '[1, 2, 3]',
  '{"orderId": 12345678, "senderAppType": "Courier Android", "messageSentTime": "yesterday"}',
];

interface Pending { time: number; seq: number; line: string }

/** A binary min-heap on (time, seq): events come out in time order, ties in the order they were made. */
class EventQueue {
  private items: Pending[] = [];
  get size() { return this.items.length; }
  peek(): Pending | undefined { return this.items[0]; }
  private less(a: Pending, b: Pending) { return a.time < b.time || (a.time === b.time && a.seq < b.seq); }
  push(item: Pending): void {
    const items = this.items;
    items.push(item);
    for (let i = items.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!this.less(items[i], items[parent])) break;
      [items[i], items[parent]] = [items[parent], items[i]];
      i = parent;
    }
  }
  pop(): Pending | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < items.length && this.less(items[l], items[m])) m = l;
        if (r < items.length && this.less(items[r], items[m])) m = r;
        if (m === i) break;
        [items[i], items[m]] = [items[m], items[i]];
        i = m;
      }
    }
    return top;
  }
}

const isoSeconds = (millis: number) => new Date(millis).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Writes synthetic chat events shaped like the challenge's as NDJSON: 2-5 messages per conversation,
 * the order event right after the first message, conversations interleaved in time. Deterministic for
 * a seed, and streamed: memory holds only the conversations still in progress.
 */
export async function generateEvents(file: string, options: GenerateOptions): Promise<GenerateSummary> {
  if (!Number.isInteger(options.conversations) || options.conversations < 1) throw new UserError('--conversations must be a positive integer');
  if (Number.isNaN(options.start.getTime())) throw new UserError('--start must be a valid date-time');
  const first = options.firstConversation ?? 0;
  if (!Number.isInteger(first) || first < 0) throw new UserError('--first-conversation must be a whole number');
  if (first + options.conversations > MAX_CONVERSATION_INDEX) {
    throw new UserError(`--first-conversation plus --conversations may reach ${MAX_CONVERSATION_INDEX.toLocaleString('en-US')} at most (each seed has that many order ids)`);
  }
  if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > MAX_SEED) throw new UserError(`--seed must be a whole number from 0 to ${MAX_SEED}`);
  for (const [name, rate] of [['duplicates', options.duplicateRate], ['late', options.lateRate], ['bad-lines', options.badLineRate]] as const) {
    if (rate !== undefined && !(rate >= 0 && rate <= 1)) throw new UserError(`--${name} must be a rate between 0 and 1`);
  }
  const rand = random(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)];
  const id8 = () => 10_000_000 + Math.floor(rand() * 89_999_999);
  const out = createWriteStream(file);
  const failed = new Promise<never>((_, reject) => out.on('error', (error) => reject(new UserError(`cannot write ${file}: ${error.message}`))));
  const summary: GenerateSummary = {
    events: 0, conversations: 0, messages: 0, orders: 0, duplicates: 0, late: 0, badLines: 0, bytes: 0,
    orderIds: { first: orderIdOf(options.seed, first), last: orderIdOf(options.seed, first + options.conversations - 1) },
  };
  const queue = new EventQueue();
  let seq = 0;
  let buffer = '';

  const write = async (line: string) => {
    buffer += `${line}\n`;
    summary.events++;
    if (buffer.length >= 1 << 16) {
      summary.bytes += Buffer.byteLength(buffer);
      if (!out.write(buffer)) await Promise.race([once(out, 'drain'), failed]);
      buffer = '';
    }
  };
  const schedule = (time: number, event: Record<string, unknown>) => {
    const line = JSON.stringify(event);
    const late = options.lateRate && rand() < options.lateRate;
    if (late) summary.late++;
    queue.push({ time: time + (late ? (10 + rand() * 50) * 60_000 : 0), seq: seq++, line });
    if (options.duplicateRate && rand() < options.duplicateRate) {
      summary.duplicates++;
      const reordered = JSON.stringify(Object.fromEntries(Object.entries(event).reverse()));
      queue.push({ time: time + rand() * 600_000, seq: seq++, line: reordered });
    }
  };

  let clock = options.start.getTime();
  for (let i = 0; i < options.conversations; i++) {
    clock += Math.floor(-Math.log(1 - rand()) * 2000); // ~one conversation every 2 s
    while (queue.size > 0 && queue.peek()!.time < clock) await write(queue.pop()!.line);

    const orderId = orderIdOf(options.seed, first + i);
    const courierId = id8();
    const customerId = id8();
    const courierApp = pick(['Courier Android', 'Courier iOS']);
    const customerApp = pick(['Customer iOS', 'Customer Android']);
    const count = 2 + Math.floor(rand() * 4);
    let sender: 'courier' | 'customer' = rand() < 0.5 ? 'courier' : 'customer';
    let stage = Math.floor(rand() * 3);
    let time = clock;
    for (let m = 0; m < count; m++) {
      const courier = sender === 'courier';
      schedule(time, {
        senderAppType: courier ? courierApp : customerApp,
        courierId,
        fromId: courier ? courierId : customerId,
        toId: courier ? customerId : courierId,
        chatStartedByMessage: m === 0,
        orderId,
        orderStage: STAGES[stage],
        customerId,
        messageSentTime: isoSeconds(time),
      });
      summary.messages++;
      if (m === 0) {
        schedule(time, { orderId, cityCode: pick(CITIES) });
        summary.orders++;
      }
      time += (5 + Math.floor(rand() * 175)) * 1000;
      if (rand() < 0.7) sender = courier ? 'customer' : 'courier';
      if (rand() < 0.4 && stage < STAGES.length - 1) stage++;
    }
    if (options.badLineRate && rand() < options.badLineRate) {
      queue.push({ time: clock, seq: seq++, line: pick(BAD_LINES) });
      summary.badLines++;
    }
    summary.conversations++;
    if (i % 10_000 === 0) options.onProgress?.(i);
  }
  while (queue.size > 0) await write(queue.pop()!.line);
  summary.bytes += Buffer.byteLength(buffer);
  out.end(buffer);
  await Promise.race([once(out, 'finish'), failed]);
  options.onProgress?.(options.conversations);
  return summary;
}
