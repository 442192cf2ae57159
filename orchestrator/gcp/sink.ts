import type { ProjectConfig } from '../config.js';
import { UserError, errorMessage } from '../errors.js';
import { runSink, type SinkOptions, type SinkSummary } from '../pubsub/sink.js';
import type { RawRow } from '../warehouse/warehouse.js';
import type { GcpClients } from './clients.js';
import { checkLocation } from './location.js';
import type { GcpSettings } from './settings.js';

/** BigQuery's guidance for streaming inserts: at most 500 rows per insertAll request. */
export const INSERT_ALL_MAX_ROWS = 500;
/** insertAll requests are limited to 10 MB; the rows get this much of it, the rest is the request's envelope. */
export const INSERT_ALL_MAX_BYTES = 10 * 1024 * 1024 - 64 * 1024;

/** A raw row as the BigQuery API's insertAll takes it; the message id is the insert id, for dedup. */
export function insertAllRow(row: RawRow) {
  return {
    insertId: row.message_id,
    json: { ...row, publish_time: row.publish_time.toRfc3339() },
  };
}

type InsertAllRow = ReturnType<typeof insertAllRow>;

export interface InsertAllRequest {
  /** Each row's index in the batch. */
  indexes: number[];
  rows: InsertAllRow[];
}

/**
 * Splits a batch into insertAll requests of at most `maxRows` rows and `maxBytes` of JSON rows. A
 * row that alone exceeds `maxBytes` cannot be sent at all: it is returned as refused.
 */
export function splitInsertAll(rows: RawRow[], maxRows = INSERT_ALL_MAX_ROWS, maxBytes = INSERT_ALL_MAX_BYTES): { requests: InsertAllRequest[]; tooLarge: Map<number, string> } {
  const requests: InsertAllRequest[] = [];
  const tooLarge = new Map<number, string>();
  let current: InsertAllRequest = { indexes: [], rows: [] };
  let bytes = 0;
  rows.forEach((row, index) => {
    const encoded = insertAllRow(row);
    // The row's JSON and the comma that separates it from the next.
    const size = Buffer.byteLength(JSON.stringify(encoded)) + 1;
    if (size > maxBytes) {
      tooLarge.set(index, `tooLarge: the row is ${size} bytes, more than an insertAll request may carry (10 MB)`);
      return;
    }
    if (current.rows.length === maxRows || bytes + size > maxBytes) {
      requests.push(current);
      current = { indexes: [], rows: [] };
      bytes = 0;
    }
    current.indexes.push(index);
    current.rows.push(encoded);
    bytes += size;
  });
  if (current.rows.length) requests.push(current);
  return { requests, tooLarge };
}

interface InsertErrors { insertErrors?: { index?: number; errors?: { reason?: string; message?: string; location?: string }[] }[] }

/**
 * Sends one insertAll request. Valid rows are inserted even when others are not (skipInvalidRows):
 * one bad row must not hold back the rest. Returns the refused rows (index in the request) with
 * BigQuery's own reason for each; a request refused as a whole throws.
 */
async function insertAll(clients: GcpClients, project: ProjectConfig, request: InsertAllRequest): Promise<Map<number, string>> {
  const table = clients.bigquery.dataset(project.raw.schema).table(project.raw.name);
  try {
    // partialRetries 0: the client would otherwise send the refused rows again, three times.
    await table.insert(request.rows, { raw: true, skipInvalidRows: true, ignoreUnknownValues: false, partialRetries: 0 });
    return new Map();
  } catch (error) {
    const response = (error as { response?: InsertErrors }).response;
    if ((error as { name?: string }).name !== 'PartialFailureError' || !response?.insertErrors) {
      const details = (error as { errors?: { message?: string }[] }).errors?.map((e) => e.message).filter(Boolean).join('; ');
      // Nothing of the batch is acknowledged: it is delivered again (insert ids make the retry idempotent for a while).
      throw new UserError(`BigQuery refused the insert into ${project.raw.schema}.${project.raw.name}: ${details || errorMessage(error)}`);
    }
    return new Map(response.insertErrors.map((e) => [e.index ?? -1, (e.errors ?? [])
      .map((x) => `${x.reason ?? 'error'}${x.location ? ` at ${x.location}` : ''}: ${x.message ?? ''}`).join('; ')] as const));
  }
}

/**
 * For projects that cannot use a BigQuery subscription: drains the raw pull subscription into the raw
 * table with the BigQuery API's streaming inserts. Each pull is sent in requests within insertAll's
 * limits; accepted rows are acknowledged, refused ones nacked (and logged with BigQuery's reason), so
 * after the last delivery attempt they wait on the dead-letter topic instead of blocking the rest.
 */
export async function sinkToBigQuery(
  project: ProjectConfig,
  settings: GcpSettings,
  clients: GcpClients,
  options: Omit<SinkOptions, 'subscriber' | 'subscriptionPath' | 'write' | 'returnImmediately'>,
  log: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
): Promise<SinkSummary> {
  const name = project.resources.rawSubscription;
  const subscription = clients.pubsub.subscription(name);
  const [exists] = await subscription.exists();
  if (!exists) throw new UserError(`subscription ${name} does not exist: run 'orchestrator provision --target gcp --landing pull' first`);
  const [metadata] = await subscription.getMetadata();
  if (metadata.bigqueryConfig?.table) {
    throw new UserError(`subscription ${name} is a BigQuery subscription: it lands rows by itself (provision with --landing pull to use this sink)`);
  }
  await checkLocation(project, settings, clients.bigquery);
  return runSink({
    ...options,
    subscriber: clients.subscriber,
    subscriptionPath: subscription.name,
    returnImmediately: clients.pubsubEmulated,
    write: async (rows) => {
      const { requests, tooLarge } = splitInsertAll(rows);
      const rejected = new Map(tooLarge);
      for (const request of requests) {
        for (const [i, reason] of await insertAll(clients, project, request)) rejected.set(request.indexes[i] ?? -1, reason);
      }
      for (const [index, reason] of rejected) {
        log(`BigQuery refused message ${rows[index]?.message_id ?? `#${index}`} (nacked; dead-lettered after its last delivery attempt): ${reason}`);
      }
      return { rejected };
    },
  });
}
