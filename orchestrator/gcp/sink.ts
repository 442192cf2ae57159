import type { ProjectConfig } from '../config.js';
import { UserError, errorMessage } from '../errors.js';
import { runSink, type SinkOptions, type SinkSummary } from '../pubsub/sink.js';
import type { RawRow } from '../warehouse/warehouse.js';
import type { GcpClients } from './clients.js';

/** A raw row as the BigQuery API's insertAll takes it; the message id is the insert id, for dedup. */
export function insertAllRow(row: RawRow) {
  return {
    insertId: row.message_id,
    json: { ...row, publish_time: row.publish_time.toRfc3339() },
  };
}

/**
 * For projects that cannot use a BigQuery subscription: drains the raw pull subscription into the raw
 * table with the BigQuery API's streaming inserts, acknowledging each batch after BigQuery accepted it.
 */
export async function sinkToBigQuery(
  project: ProjectConfig,
  clients: GcpClients,
  options: Omit<SinkOptions, 'subscriber' | 'subscriptionPath' | 'write' | 'returnImmediately'>,
): Promise<SinkSummary> {
  const name = project.resources.rawSubscription;
  const subscription = clients.pubsub.subscription(name);
  const [exists] = await subscription.exists();
  if (!exists) throw new UserError(`subscription ${name} does not exist: run 'orchestrator provision --target gcp --landing pull' first`);
  const [metadata] = await subscription.getMetadata();
  if (metadata.bigqueryConfig?.table) {
    throw new UserError(`subscription ${name} is a BigQuery subscription: it lands rows by itself (provision with --landing pull to use this sink)`);
  }
  const table = clients.bigquery.dataset(project.raw.schema).table(project.raw.name);
  return runSink({
    ...options,
    subscriber: clients.subscriber,
    subscriptionPath: subscription.name,
    returnImmediately: clients.pubsubEmulated,
    write: async (rows) => {
      try {
        await table.insert(rows.map(insertAllRow), { raw: true });
      } catch (error) {
        // Nothing is acknowledged: the batch is delivered again, and parked on the dead-letter topic after five tries.
        const details = (error as { errors?: { errors?: { message?: string }[] }[] }).errors?.[0]?.errors?.[0]?.message;
        throw new UserError(`BigQuery refused rows for ${project.raw.schema}.${project.raw.name}: ${details ?? errorMessage(error)}`);
      }
    },
  });
}
