// A local HTTP endpoint answering the Cloud Monitoring and Dataform REST calls `status --target gcp`
// makes (timeSeries.list; workflowConfigs.list, workflowInvocations.get and .query), from what a test
// puts in it, and recording every request. The client libraries ask for numeric enums
// ($alt=json;enum-encoding=int), so enums are answered as numbers, as Google does then.
import { type JsonServer, startJsonServer } from './jsonServer.js';

export interface RecordedRestRequest {
  method: string;
  path: string;
  /** Query parameters, by name (the REST transport sends nested fields as dotted names). */
  query: Record<string, string>;
}

/** A gauge point of a subscription metric. */
export interface MetricPoint {
  metricType: string;
  project: string;
  subscription: string;
  /** When it was sampled. */
  at: string;
  value: number;
}

export interface FakeInvocation {
  state: 'RUNNING' | 'SUCCEEDED' | 'CANCELLED' | 'FAILED' | 'CANCELING';
  startTime: string;
  endTime?: string;
  workflowConfig: string;
  /** The actions :query answers for it. */
  actions?: { target: { database: string; schema: string; name: string }; state: 'SUCCEEDED' | 'FAILED' | 'SKIPPED'; failureReason?: string }[];
}

export interface FakeWorkflowConfig {
  cronSchedule: string;
  timeZone?: string;
  /** Newest first, as the API keeps them: an invocation's resource name, or the scheduler's error. */
  records: ({ executionTime: string; workflowInvocation: string } | { executionTime: string; errorStatus: { code: number; message: string } })[];
}

const INVOCATION_STATES = { RUNNING: 1, SUCCEEDED: 2, CANCELLED: 3, FAILED: 4, CANCELING: 5 };
const ACTION_STATES = { SKIPPED: 2, SUCCEEDED: 4, FAILED: 6 };
const GAUGE = 1;
const INT64 = 2;

export class FakeMonitoringDataform {
  readonly requests: RecordedRestRequest[] = [];
  readonly points: MetricPoint[] = [];
  /** Repositories by resource name; their workflow configurations by id. */
  readonly repositories = new Map<string, Map<string, FakeWorkflowConfig>>();
  /** Invocations by resource name. */
  readonly invocations = new Map<string, FakeInvocation>();
  private server?: JsonServer;

  async start(): Promise<string> {
    this.server = await startJsonServer(({ method, path, query }) => {
      this.requests.push({ method, path, query });
      return method === 'GET' ? this.route(path, query) : [405, { error: { code: 405, message: 'only GET', status: 'UNIMPLEMENTED' } }];
    });
    return this.server.url;
  }

  stop(): void {
    this.server?.stop();
  }

  private route(path: string, query: Record<string, string | undefined>): [number, unknown] {
    const notFound = (what: string): [number, unknown] => [404, { error: { code: 404, message: `${what} not found`, status: 'NOT_FOUND' } }];
    let m: RegExpExecArray | null;
    if ((m = /^\/v3\/projects\/([^/]+)\/timeSeries$/.exec(path))) return this.timeSeries(m[1], query);
    if ((m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/repositories\/[^/]+)\/workflowConfigs$/.exec(path))) {
      const configs = this.repositories.get(m[1]);
      if (!configs) return notFound(`Repository ${m[1]}`);
      return [200, {
        workflowConfigs: [...configs.entries()].map(([id, c]) => ({
          name: `${m![1]}/workflowConfigs/${id}`, releaseConfig: `${m![1]}/releaseConfigs/production`, cronSchedule: c.cronSchedule,
          ...(c.timeZone ? { timeZone: c.timeZone } : {}), recentScheduledExecutionRecords: c.records,
        })),
      }];
    }
    if ((m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/repositories\/[^/]+\/workflowInvocations\/[^/:]+)(:query)?$/.exec(path))) {
      const invocation = this.invocations.get(m[1]);
      if (!invocation) return notFound(`WorkflowInvocation ${m[1]}`);
      if (m[2]) {
        return [200, {
          workflowInvocationActions: (invocation.actions ?? []).map((a) => ({
            target: a.target, canonicalTarget: a.target, state: ACTION_STATES[a.state], ...(a.failureReason ? { failureReason: a.failureReason } : {}),
          })),
        }];
      }
      return [200, {
        name: m[1], workflowConfig: invocation.workflowConfig, state: INVOCATION_STATES[invocation.state],
        invocationTiming: { startTime: invocation.startTime, ...(invocation.endTime ? { endTime: invocation.endTime } : {}) },
      }];
    }
    return [501, { error: { code: 501, message: `the fake does not implement GET ${path}`, status: 'UNIMPLEMENTED' } }];
  }

  /**
   * The points inside the interval of the series the filter selects, newest first. The filter is
   * read as the orchestrator writes it (metric type, project, subscription ids); anything else in it
   * is refused, so that a filter the fake cannot read fails the test instead of matching everything.
   */
  private timeSeries(project: string, query: Record<string, string | undefined>): [number, unknown] {
    const filter = query.filter ?? '';
    const metricType = /metric\.type = "([^"]+)"/.exec(filter)?.[1];
    const projectLabel = /resource\.labels\.project_id = "([^"]+)"/.exec(filter)?.[1];
    const subscriptions = [...filter.matchAll(/resource\.labels\.subscription_id = "([^"]+)"/g)].map((s) => s[1]);
    if (!metricType || !/resource\.type = "pubsub_subscription"/.test(filter) || subscriptions.length === 0) {
      return [400, { error: { code: 400, message: `the fake cannot read the filter ${filter}`, status: 'INVALID_ARGUMENT' } }];
    }
    const start = Date.parse(query['interval.startTime'] ?? '');
    const end = Date.parse(query['interval.endTime'] ?? '');
    const selected = this.points.filter((p) => p.metricType === metricType && p.project === project && (!projectLabel || p.project === projectLabel)
      && subscriptions.includes(p.subscription) && Date.parse(p.at) > start && Date.parse(p.at) <= end);
    const bySubscription = new Map<string, MetricPoint[]>();
    for (const p of selected) bySubscription.set(p.subscription, [...(bySubscription.get(p.subscription) ?? []), p]);
    return [200, {
      timeSeries: [...bySubscription.entries()].map(([subscription, points]) => ({
        metric: { type: metricType },
        resource: { type: 'pubsub_subscription', labels: { project_id: project, subscription_id: subscription } },
        metricKind: GAUGE, valueType: INT64,
        points: points.sort((a, b) => Date.parse(b.at) - Date.parse(a.at)).map((p) => ({ interval: { startTime: p.at, endTime: p.at }, value: { int64Value: String(p.value) } })),
      })),
    }];
  }
}
