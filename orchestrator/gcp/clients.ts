import { BigQuery } from '@google-cloud/bigquery';
import { PubSub, v1 } from '@google-cloud/pubsub';
import { emulatorSubscriber } from '../pubsub/clients.js';
import { Storage } from '@google-cloud/storage';
import type { GcpSettings } from './settings.js';

/** The three Google Cloud clients, with Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or gcloud's). */
export interface GcpClients {
  storage: Storage;
  bigquery: BigQuery;
  pubsub: PubSub;
  /** Synchronous pull, for `sink --target gcp`. */
  subscriber: v1.SubscriberClient;
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
  const emulator = process.env.PUBSUB_EMULATOR_HOST;
  const subscriber = emulator ? emulatorSubscriber(emulator, settings.projectId) : new v1.SubscriberClient({ projectId: settings.projectId });
  return {
    subscriber,
    storage: new Storage({ projectId: settings.projectId, ...(storageEndpoint ? { apiEndpoint: storageEndpoint } : {}) }),
    bigquery: new BigQuery({ projectId: settings.projectId, location: settings.location, ...(bigqueryEndpoint ? { apiEndpoint: bigqueryEndpoint } : {}) }),
    pubsub,
    pubsubEmulated: Boolean(emulator),
    async close() {
      await Promise.allSettled([pubsub.close(), subscriber.close()]);
    },
  };
}
