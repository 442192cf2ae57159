import { status as grpcStatus } from '@grpc/grpc-js';
import { UserError, errorMessage } from '../errors.js';
import { GoogleApiError, type GcpClients } from './clients.js';

export interface IamPolicy { bindings?: { role?: string | null; members?: string[] | null }[] | null; etag?: unknown }

/** The policy with `member` added to `role`, or undefined when it holds that role already. */
export function withMember(policy: IamPolicy, role: string, member: string): IamPolicy | undefined {
  const bindings = policy.bindings ?? [];
  if (bindings.some((b) => b.role === role && (b.members ?? []).includes(member))) return undefined;
  const existing = bindings.find((b) => b.role === role);
  return {
    ...policy,
    bindings: existing
      ? bindings.map((b) => (b === existing ? { ...b, members: [...(b.members ?? []), member] } : b))
      : [...bindings, { role, members: [member] }],
  };
}

export const pubsubServiceAgent = (projectNumber: string) => `service-${projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`;

interface Operation { name?: string; done?: boolean; error?: { message?: string }; response?: { email?: string } }

/**
 * Makes sure the project's Pub/Sub service agent exists before anything is granted to it: on a new
 * project it is only created when Pub/Sub first needs it, and a grant to an agent that does not exist
 * yet is refused. Service Usage's generateServiceIdentity (what `gcloud beta services identity create
 * --service=pubsub.googleapis.com` calls) creates it if needed and returns it; the call is idempotent.
 */
export async function ensurePubSubServiceAgent(clients: GcpClients, projectId: string, expected: string, pollSeconds = 2): Promise<void> {
  const fallback = `gcloud beta services identity create --service=pubsub.googleapis.com --project=${projectId}`;
  let operation: Operation;
  try {
    operation = await clients.serviceUsage<Operation>('POST', `v1beta1/projects/${projectId}/services/pubsub.googleapis.com:generateServiceIdentity`);
    while (!operation.done) {
      if (!operation.name) throw new UserError('generateServiceIdentity answered an operation without a name');
      await new Promise((resolve) => setTimeout(resolve, pollSeconds * 1000));
      operation = await clients.serviceUsage<Operation>('GET', `v1beta1/${operation.name}`);
    }
  } catch (error) {
    if (error instanceof GoogleApiError) throw new UserError(`cannot create the Pub/Sub service agent (HTTP ${error.status}: ${error.message}); or run '${fallback}'`);
    throw error;
  }
  if (operation.error) throw new UserError(`cannot create the Pub/Sub service agent: ${operation.error.message ?? 'unknown error'}; or run '${fallback}'`);
  const email = operation.response?.email;
  if (email && email !== expected) {
    throw new UserError(`the Pub/Sub service agent is ${email}, not ${expected}: check --project-number`);
  }
}

export interface PropagationWait {
  /** How long a refused creation is retried: IAM changes take typically 2 minutes, sometimes 7 or more. */
  timeoutSeconds: number;
  intervalSeconds: number;
  log: (line: string) => void;
}

export const DEFAULT_PROPAGATION_WAIT: Omit<PropagationWait, 'log'> = { timeoutSeconds: 600, intervalSeconds: 15 };

/** Pub/Sub's answer when the caller itself lacks a permission: retrying cannot help. */
const CALLER_DENIED = /User not authorized to perform this action|iam\.serviceAccounts\.actAs/i;

const minutes = (seconds: number) => `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;

/**
 * Creates a BigQuery subscription whose writer was granted the table moments ago. Until the grant has
 * propagated, Pub/Sub refuses with PERMISSION_DENIED or FAILED_PRECONDITION; that is retried, with
 * progress, for up to `timeoutSeconds`. A refusal that is the caller's own missing permission stops
 * at once: Pub/Sub's "User not authorized" (or a missing actAs on the writing service account), or
 * `callerMayAttach` finding that the caller may not attach subscriptions to the topic.
 */
export async function createWithIamPropagation<T>(
  what: string,
  create: () => Promise<T>,
  callerMayAttach: () => Promise<boolean>,
  wait: PropagationWait,
): Promise<T> {
  const started = performance.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await create();
    } catch (error) {
      const code = (error as { code?: number }).code;
      const message = (error as { details?: string }).details || errorMessage(error);
      if (code !== grpcStatus.PERMISSION_DENIED && code !== grpcStatus.FAILED_PRECONDITION) throw error;
      if (CALLER_DENIED.test(message)) throw new UserError(`cannot create ${what}: ${message} (a permission you lack, not one still propagating)`);
      if (attempt === 1 && !(await callerMayAttach())) {
        throw new UserError(`cannot create ${what}: you lack pubsub.topics.attachSubscription on its topic (Pub/Sub Editor grants it)`);
      }
      const elapsed = (performance.now() - started) / 1000;
      if (elapsed + wait.intervalSeconds > wait.timeoutSeconds) {
        throw new UserError(`cannot create ${what}: still refused after ${minutes(elapsed)} (${message}); check the grant on the raw table, then run provision again`);
      }
      wait.log(`waiting for IAM to propagate the table grant (${minutes(elapsed)} of up to ${minutes(wait.timeoutSeconds)}, attempt ${attempt}): ${message}`);
      await new Promise((resolve) => setTimeout(resolve, wait.intervalSeconds * 1000));
    }
  }
}
