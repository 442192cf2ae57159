import { BigQuery } from '@google-cloud/bigquery';
import type { v1 as dataformV1 } from '@google-cloud/dataform';
import type { MetricServiceClient } from '@google-cloud/monitoring';
import type { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { PubSub, v1 } from '@google-cloud/pubsub';
import { Storage } from '@google-cloud/storage';
import { status as grpcStatus } from '@grpc/grpc-js';
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
 * Not found, however the client said it: an HTTP 404 (Cloud Storage's and BigQuery's `code`, a
 * GoogleApiError's `status`) or gRPC's NOT_FOUND (Pub/Sub, and google-gax clients on REST too).
 */
export function isNotFound(error: unknown): boolean {
  const { code, status } = error as { code?: unknown; status?: unknown };
  const value = typeof code === 'number' ? code : status;
  return value === 404 || value === grpcStatus.NOT_FOUND;
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
    serviceUsage<T>(method: 'GET' | 'POST', path: string): Promise<T> {
      // Pub/Sub's auth client carries the cloud-platform scope that Service Usage requires.
      return restCall<T>(pubsub.auth, serviceUsageEndpoint ?? 'https://serviceusage.googleapis.com', Boolean(serviceUsageEndpoint), method, path);
    },
    async close() {
      await Promise.allSettled([pubsub.close(), subscriber.close()]);
    },
  };
}

/**
 * A call to a Google REST API that has no client library among the dependencies, with the
 * credentials of `auth`; a local (test) endpoint is called without credentials. Google's error
 * message and HTTP status come back as a GoogleApiError.
 */
async function restCall<T>(auth: PubSub['auth'], base: string, local: boolean, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  const url = `${base}/${path}`;
  if (local) {
    const response = await fetch(url, { method, ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }) });
    const payload = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
    if (!response.ok) throw new GoogleApiError(payload.error?.message ?? `HTTP ${response.status}`, response.status);
    return payload as T;
  }
  try {
    return (await auth.request<T>({ url, method, ...(body === undefined ? {} : { data: body }) })).data;
  } catch (error) {
    const { response } = error as { response?: { status?: number; data?: { error?: { message?: string } } } };
    if (!response?.status) throw error;
    throw new GoogleApiError(response.data?.error?.message ?? `HTTP ${response.status}`, response.status);
  }
}

/**
 * Options for a google-gax client speaking REST (`fallback`), the transport the tests' recording
 * endpoint answers, so that what is tested is what runs. `endpoint` (http://host:port, from
 * `variable`) points it elsewhere than Google, called without credentials as emulators are.
 */
function restClientOptions(settings: GcpSettings, variable: string) {
  const endpoint = process.env[variable];
  if (!endpoint) return { projectId: settings.projectId, fallback: true };
  const url = new URL(endpoint);
  // What gax's REST transport needs of an auth client: headers to add (none) and a fetch.
  const noCredentials = { getRequestHeaders: () => Promise.resolve(new Headers()), fetch: (input: string, init: RequestInit) => fetch(input, init) };
  return {
    projectId: settings.projectId, fallback: true, apiEndpoint: url.hostname, port: Number(url.port), protocol: url.protocol.replace(':', ''),
    authClient: noCredentials as unknown as NonNullable<ConstructorParameters<typeof MetricServiceClient>[0]>['authClient'],
  };
}

/**
 * A client whose credentials and transport are set up. Done before its first call: when no
 * credentials can be found, this rejects (and the caller reports it), whereas a first call to a
 * paged method lets the error escape google-gax's REST paging as an uncaught exception.
 */
async function initialized<T extends { initialize(): Promise<unknown>; close(): Promise<void> }>(client: T): Promise<T> {
  try {
    await client.initialize();
  } catch (error) {
    // Its transport never came up: closing it can only repeat the error.
    await client.close().catch(() => undefined);
    throw error;
  }
  return client;
}

/**
 * Cloud Monitoring's metric reader (ORCHESTRATOR_MONITORING_ENDPOINT points it elsewhere). Loaded on
 * demand: the library takes about half a second to load, which no other command should pay.
 */
export async function monitoringClient(settings: GcpSettings): Promise<MetricServiceClient> {
  const { MetricServiceClient } = await import('@google-cloud/monitoring');
  return initialized(new MetricServiceClient(restClientOptions(settings, 'ORCHESTRATOR_MONITORING_ENDPOINT')));
}

/** The Dataform API, v1 (ORCHESTRATOR_DATAFORM_ENDPOINT points it elsewhere); loaded on demand, as Monitoring's. */
export async function dataformClient(settings: GcpSettings): Promise<dataformV1.DataformClient> {
  const { v1 } = await import('@google-cloud/dataform');
  return initialized(new v1.DataformClient(restClientOptions(settings, 'ORCHESTRATOR_DATAFORM_ENDPOINT')));
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

/**
 * ORCHESTRATOR_DATAFORM_ENDPOINT, ORCHESTRATOR_SECRETMANAGER_ENDPOINT, ORCHESTRATOR_IAM_ENDPOINT and
 * ORCHESTRATOR_RESOURCEMANAGER_ENDPOINT (http://host:port) point these clients at a local endpoint
 * (the tests' recording one).
 */
export async function scheduleClients(settings: GcpSettings, auth: PubSub['auth']): Promise<ScheduleClients> {
  const endpoints = { iam: process.env.ORCHESTRATOR_IAM_ENDPOINT, cloudresourcemanager: process.env.ORCHESTRATOR_RESOURCEMANAGER_ENDPOINT };
  const dataform = await dataformClient(settings);
  const { SecretManagerServiceClient } = await import('@google-cloud/secret-manager');
  const secrets = await initialized(new SecretManagerServiceClient(restClientOptions(settings, 'ORCHESTRATOR_SECRETMANAGER_ENDPOINT'))).catch(async (error: unknown) => {
    await dataform.close();
    throw error;
  });
  return {
    dataform,
    secrets,
    rest<T>(api: 'iam' | 'cloudresourcemanager', method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      const local = endpoints[api];
      return restCall<T>(auth, local ?? `https://${api}.googleapis.com`, Boolean(local), method, path, body);
    },
    async close() {
      await Promise.allSettled([dataform.close(), secrets.close()]);
    },
  };
}
