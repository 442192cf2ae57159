import { BigQuery } from '@google-cloud/bigquery';
import { v1 as dataformV1 } from '@google-cloud/dataform';
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { PubSub, v1 } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import { emulatorSubscriber } from '../pubsub/clients.js';
import type { GcpSettings } from './settings.js';

/** The Google Cloud clients, with Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS or gcloud's). */
export interface GcpClients {
  storage: Storage;
  bigquery: BigQuery;
  pubsub: PubSub;
  /** Synchronous pull, for `sink --target gcp`. */
  subscriber: v1.SubscriberClient;
  /** True when Pub/Sub is the emulator ($PUBSUB_EMULATOR_HOST), which has no IAM. */
  pubsubEmulated: boolean;
  /** A call to the Service Usage REST API (no client library here), with the same credentials; `path` starts at the version. */
  serviceUsage<T>(method: 'GET' | 'POST', path: string): Promise<T>;
  close(): Promise<void>;
}

/** An API error from `rest`, with Google's HTTP status and message. */
export class GoogleApiError extends Error {
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

/**
 * ORCHESTRATOR_STORAGE_ENDPOINT, ORCHESTRATOR_BIGQUERY_ENDPOINT and ORCHESTRATOR_SERVICEUSAGE_ENDPOINT
 * point the clients elsewhere than Google (the tests' recording endpoint); PUBSUB_EMULATOR_HOST does
 * the same for Pub/Sub, and ORCHESTRATOR_PUBSUB_ENDPOINT (host:port) for a plain-text Pub/Sub
 * endpoint that, unlike the emulator, has IAM. Those endpoints are called without credentials, as
 * the client libraries call emulators.
 */
export function gcpClients(settings: GcpSettings): GcpClients {
  const storageEndpoint = process.env.ORCHESTRATOR_STORAGE_ENDPOINT;
  const bigqueryEndpoint = process.env.ORCHESTRATOR_BIGQUERY_ENDPOINT;
  const emulator = process.env.PUBSUB_EMULATOR_HOST;
  const serviceUsageEndpoint = process.env.ORCHESTRATOR_SERVICEUSAGE_ENDPOINT;
  const plainPubSub = process.env.ORCHESTRATOR_PUBSUB_ENDPOINT ?? emulator;
  const pubsub = plainPubSub
    ? new PubSub({ projectId: settings.projectId, apiEndpoint: plainPubSub, emulatorMode: true })
    : new PubSub({ projectId: settings.projectId });
  const subscriber = plainPubSub ? emulatorSubscriber(plainPubSub, settings.projectId) : new v1.SubscriberClient({ projectId: settings.projectId });
  return {
    subscriber,
    storage: new Storage({ projectId: settings.projectId, ...(storageEndpoint ? { apiEndpoint: storageEndpoint } : {}) }),
    bigquery: new BigQuery({ projectId: settings.projectId, location: settings.location, ...(bigqueryEndpoint ? { apiEndpoint: bigqueryEndpoint } : {}) }),
    pubsub,
    pubsubEmulated: Boolean(emulator) && !process.env.ORCHESTRATOR_PUBSUB_ENDPOINT,
    async serviceUsage<T>(method: 'GET' | 'POST', path: string): Promise<T> {
      if (serviceUsageEndpoint) {
        const response = await fetch(`${serviceUsageEndpoint}/${path}`, { method });
        const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
        if (!response.ok) throw new GoogleApiError(body.error?.message ?? `HTTP ${response.status}`, response.status);
        return body as T;
      }
      try {
        // Pub/Sub's auth client carries the cloud-platform scope that Service Usage requires.
        return (await pubsub.auth.request<T>({ url: `https://serviceusage.googleapis.com/${path}`, method })).data;
      } catch (error) {
        const { response } = error as { response?: { status?: number; data?: { error?: { message?: string } } } };
        if (!response?.status) throw error;
        throw new GoogleApiError(response.data?.error?.message ?? `HTTP ${response.status}`, response.status);
      }
    },
    async close() {
      await Promise.allSettled([pubsub.close(), subscriber.close()]);
    },
  };
}

/** The clients `schedule --target gcp` needs besides gcpClients'. */
export interface ScheduleClients {
  dataform: dataformV1.DataformClient;
  secrets: SecretManagerServiceClient;
  /**
   * A call to IAM (service accounts and their policies) or Resource Manager (the project's policy),
   * which have no client library among the dependencies: REST with the same credentials.
   */
  rest<T>(api: 'iam' | 'cloudresourcemanager', method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

type ClientOptions = NonNullable<ConstructorParameters<typeof dataformV1.DataformClient>[0]>;

/** A client library's REST transport against a plain-HTTP local endpoint, without credentials (as the libraries call emulators). */
function localRestOptions(endpoint: string): ClientOptions {
  const url = new URL(endpoint);
  // google-gax's REST transport asks its auth client for headers and calls its `fetch`: here, none and a plain fetch.
  const unauthenticated = { getRequestHeaders: () => Promise.resolve(new Headers()), fetch: (input: string, init: RequestInit) => fetch(input, init), universeDomain: 'googleapis.com' };
  return {
    fallback: true, protocol: url.protocol.replace(':', ''), apiEndpoint: url.hostname, port: Number(url.port),
    authClient: unauthenticated as unknown as ClientOptions['authClient'],
  };
}

/**
 * ORCHESTRATOR_DATAFORM_ENDPOINT, ORCHESTRATOR_SECRETMANAGER_ENDPOINT, ORCHESTRATOR_IAM_ENDPOINT and
 * ORCHESTRATOR_RESOURCEMANAGER_ENDPOINT (http://host:port) point these clients at a local endpoint
 * (the tests' recording one); the two client libraries then use their REST transport.
 */
export function scheduleClients(settings: GcpSettings, auth: PubSub['auth']): ScheduleClients {
  const dataformEndpoint = process.env.ORCHESTRATOR_DATAFORM_ENDPOINT;
  const secretsEndpoint = process.env.ORCHESTRATOR_SECRETMANAGER_ENDPOINT;
  const endpoints = { iam: process.env.ORCHESTRATOR_IAM_ENDPOINT, cloudresourcemanager: process.env.ORCHESTRATOR_RESOURCEMANAGER_ENDPOINT };
  const dataform = new dataformV1.DataformClient({ projectId: settings.projectId, ...(dataformEndpoint ? localRestOptions(dataformEndpoint) : {}) });
  const secrets = new SecretManagerServiceClient({ projectId: settings.projectId, ...(secretsEndpoint ? localRestOptions(secretsEndpoint) : {}) });
  return {
    dataform,
    secrets,
    async rest<T>(api: 'iam' | 'cloudresourcemanager', method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      const local = endpoints[api];
      if (local) {
        const response = await fetch(`${local}/${path}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
        const payload = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
        if (!response.ok) throw new GoogleApiError(payload.error?.message ?? `HTTP ${response.status}`, response.status);
        return payload as T;
      }
      try {
        return (await auth.request<T>({ url: `https://${api}.googleapis.com/${path}`, method, ...(body === undefined ? {} : { data: body }) })).data;
      } catch (error) {
        const { response } = error as { response?: { status?: number; data?: { error?: { message?: string } } } };
        if (!response?.status) throw error;
        throw new GoogleApiError(response.data?.error?.message ?? `HTTP ${response.status}`, response.status);
      }
    },
    async close() {
      await Promise.allSettled([dataform.close(), secrets.close()]);
    },
  };
}
