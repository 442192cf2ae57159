import { PubSub, v1 } from '@google-cloud/pubsub';
import { credentials } from '@grpc/grpc-js';
import { splitHostPort } from '../net.js';

/** Pub/Sub clients pointed at an emulator (`host:port`), with no credentials and no metadata lookups. */
export interface PubSubClients {
  pubsub: PubSub;
  /** The low-level client: synchronous pull is the emulator's fastest way to read (~20k msg/s). */
  subscriber: v1.SubscriberClient;
  projectId: string;
  close(): Promise<void>;
}

/** The low-level subscriber ignores PUBSUB_EMULATOR_HOST, so it is pointed at the emulator explicitly. */
export function emulatorSubscriber(host: string, projectId: string): v1.SubscriberClient {
  const { host: servicePath, port } = splitHostPort(host);
  return new v1.SubscriberClient({ servicePath, port, sslCreds: credentials.createInsecure(), projectId });
}

export function emulatorClients(host: string, projectId: string): PubSubClients {
  // Offline, the auth library would otherwise probe the GCE metadata server and warn.
  process.env.METADATA_SERVER_DETECTION ??= 'none';
  const pubsub = new PubSub({ projectId, apiEndpoint: host, emulatorMode: true });
  const subscriber = emulatorSubscriber(host, projectId);
  return {
    pubsub,
    subscriber,
    projectId,
    async close() {
      await Promise.allSettled([pubsub.close(), subscriber.close()]);
    },
  };
}
