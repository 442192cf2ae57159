import { BigQuery } from '@google-cloud/bigquery';
import { PubSub } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import type { GcpSettings } from './settings.js';

/** The three Google Cloud clients, with Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or gcloud's). */
export interface GcpClients {
  storage: Storage;
  bigquery: BigQuery;
  pubsub: PubSub;
  /** True when Pub/Sub is the emulator ($PUBSUB_EMULATOR_HOST), which has no IAM. */
  pubsubEmulated: boolean;
  close(): Promise<void>;
}

/**
 * ORCHESTRATOR_STORAGE_ENDPOINT and ORCHESTRATOR_BIGQUERY_ENDPOINT point the clients elsewhere than
 * Google (the tests' recording endpoint); PUBSUB_EMULATOR_HOST does the same for Pub/Sub.
 */
export function gcpClients(settings: GcpSettings): GcpClients {
  const storageEndpoint = process.env.ORCHESTRATOR_STORAGE_ENDPOINT;
  const bigqueryEndpoint = process.env.ORCHESTRATOR_BIGQUERY_ENDPOINT;
  const pubsub = new PubSub({ projectId: settings.projectId });
  return {
    storage: new Storage({ projectId: settings.projectId, ...(storageEndpoint ? { apiEndpoint: storageEndpoint } : {}) }),
    bigquery: new BigQuery({ projectId: settings.projectId, location: settings.location, ...(bigqueryEndpoint ? { apiEndpoint: bigqueryEndpoint } : {}) }),
    pubsub,
    pubsubEmulated: Boolean(process.env.PUBSUB_EMULATOR_HOST),
    async close() {
      await pubsub.close();
    },
  };
}
