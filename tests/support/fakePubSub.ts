// A local gRPC server that answers the Pub/Sub admin calls `provision` and `status` make (topics,
// subscriptions, IAM), keeps what was created in memory and records every call. The emulator has no
// IAM and never reports a BigQuery subscription's state, so those paths are tested here, with the
// real client library speaking real gRPC to it.
import { createRequire } from 'node:module';
import path from 'node:path';
import { Server, ServerCredentials, status, type ServiceDefinition } from '@grpc/grpc-js';

/** A request or resource as the client sent it (proto-loader's plain objects, camelCase). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- proto-loader's messages are untyped plain objects
type Message = any;

interface GaxModule {
  GrpcClient: new () => { loadProtoJSON(json: unknown): Record<string, Message> };
}

/** google-gax as @google-cloud/pubsub itself loads it, with the proto definitions it ships. */
function loadServices() {
  const pubsubRequire = createRequire(createRequire(import.meta.url).resolve('@google-cloud/pubsub'));
  const gaxEntry = pubsubRequire.resolve('google-gax');
  const gax = pubsubRequire('google-gax') as GaxModule;
  const grpc = new gax.GrpcClient();
  const pubsub = grpc.loadProtoJSON(pubsubRequire('../protos/protos.json')).google.pubsub.v1;
  const iam = grpc.loadProtoJSON(pubsubRequire(path.join(path.dirname(gaxEntry), '..', 'protos', 'iam_service.json'))).google.iam.v1;
  return {
    publisher: pubsub.Publisher.service as ServiceDefinition,
    subscriber: pubsub.Subscriber.service as ServiceDefinition,
    iamPolicy: iam.IAMPolicy.service as ServiceDefinition,
  };
}

export interface RecordedCall {
  method: string;
  request: Message;
  /** performance.now() when it arrived, to order calls across fakes. */
  at: number;
}

type Callback = (error: { code: number; details: string } | null, response?: Message) => void;

export class FakePubSub {
  readonly calls: RecordedCall[] = [];
  readonly topics = new Map<string, Message>();
  readonly subscriptions = new Map<string, Message>();
  readonly policies = new Map<string, Message>();
  /** What CreateSubscription answers for a subscription (by its id), in order, before it succeeds. */
  readonly createSubscriptionErrors = new Map<string, { code: number; details: string }[]>();
  /** Permissions TestIamPermissions says the caller lacks. */
  readonly deniedPermissions = new Set<string>();
  private server?: Server;

  async start(): Promise<string> {
    const services = loadServices();
    const server = new Server();
    const unary = (method: string, handle: (request: Message) => Message) =>
      (call: { request: Message }, callback: Callback) => {
        this.calls.push({ method, request: call.request, at: performance.now() });
        const answer = handle(call.request);
        if (answer && typeof answer.code === 'number' && typeof answer.details === 'string') callback(answer);
        else callback(null, answer);
      };
    const notFound = (name: string) => ({ code: status.NOT_FOUND, details: `Resource not found (resource=${name.split('/').pop()}).` });
    const exists = (name: string) => ({ code: status.ALREADY_EXISTS, details: `Resource already exists in the project (resource=${name.split('/').pop()}).` });
    server.addService(services.publisher, {
      GetTopic: unary('GetTopic', (r) => this.topics.get(r.topic) ?? notFound(r.topic)),
      CreateTopic: unary('CreateTopic', (r) => {
        if (this.topics.has(r.name)) return exists(r.name);
        this.topics.set(r.name, { name: r.name });
        return this.topics.get(r.name);
      }),
    });
    server.addService(services.subscriber, {
      GetSubscription: unary('GetSubscription', (r) => this.subscriptions.get(r.subscription) ?? notFound(r.subscription)),
      CreateSubscription: unary('CreateSubscription', (r) => {
        const error = this.createSubscriptionErrors.get(String(r.name).split('/').pop()!)?.shift();
        if (error) return error;
        if (this.subscriptions.has(r.name)) return exists(r.name);
        const subscription = { ...r, ...(r.bigqueryConfig?.table ? { bigqueryConfig: { ...r.bigqueryConfig, state: 'ACTIVE' } } : {}) };
        this.subscriptions.set(r.name, subscription);
        return subscription;
      }),
    });
    server.addService(services.iamPolicy, {
      GetIamPolicy: unary('GetIamPolicy', (r) => this.policies.get(r.resource) ?? { version: 1, bindings: [], etag: Buffer.from('ACAB') }),
      SetIamPolicy: unary('SetIamPolicy', (r) => {
        this.policies.set(r.resource, { ...r.policy, etag: Buffer.from('BwE=') });
        return this.policies.get(r.resource);
      }),
      TestIamPermissions: unary('TestIamPermissions', (r) => ({ permissions: (r.permissions as string[]).filter((p) => !this.deniedPermissions.has(p)) })),
    });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    this.server = server;
    return `127.0.0.1:${port}`;
  }

  /** The calls that change something. */
  writes(): RecordedCall[] {
    return this.calls.filter((c) => /^(Create|SetIamPolicy|Update|Delete)/.test(c.method));
  }

  stop(): void {
    this.server?.forceShutdown();
  }
}
