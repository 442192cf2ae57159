// A local HTTP endpoint that answers the REST calls `schedule --target gcp` makes: the Dataform API
// (v1), Secret Manager's IAM methods, IAM (service accounts and their policies), Resource Manager
// (the project and its policy) and BigQuery's datasets. It keeps what was created in memory and records
// every request, so tests assert the exact requests. The paths and bodies are the APIs' REST forms
// (https://cloud.google.com/dataform/reference/rest/v1, .../secret-manager/docs/reference/rest,
// .../iam/docs/reference/rest, .../resource-manager/reference/rest/v1, .../bigquery/docs/reference/rest).
import { type JsonServer, startJsonServer } from './jsonServer.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a body has the API's shape, which the tests check field by field
type JsonBody = any;

export interface RecordedRequest {
  method: string;
  path: string;
  /** The query string's parameters. */
  query: Partial<Record<string, string>>;
  body: JsonBody;
}

type Reply = [number, unknown];

const notFound = (what: string): Reply => [404, { error: { code: 404, message: `${what} not found`, status: 'NOT_FOUND' } }];

export class FakeDataformApis {
  readonly requests: RecordedRequest[] = [];
  /** Dataform resources by full name (repositories, release and workflow configurations, compilation results). */
  readonly dataform = new Map<string, JsonBody>();
  readonly serviceAccounts = new Map<string, JsonBody>();
  /** IAM policies by resource: `project:P`, `serviceAccount:EMAIL`, `secret:projects/P/secrets/S`. */
  readonly policies = new Map<string, JsonBody>();
  readonly secrets = new Set<string>();
  readonly datasets = new Map<string, JsonBody>();
  /** What computeAccessTokenStatus answers (1 NOT_FOUND, 2 INVALID, 3 VALID). */
  tokenStatus = 3;
  /** What a compilation result reports (none: it compiles). */
  compilationErrors: { path: string; message: string }[] = [];
  private server?: JsonServer;

  constructor(readonly projectId: string, readonly projectNumber = '123456789012') {}

  async start(): Promise<string> {
    this.server = await startJsonServer(({ method, path, query, body }) => {
      this.requests.push({ method, path, query, body });
      return this.route(method, path, query, body);
    });
    return this.server.url;
  }

  stop(): void {
    this.server?.stop();
  }

  /** The requests that change something: anything but a read (GET, or a getIamPolicy). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith(':getIamPolicy'));
  }

  /** The datasets as `provision` leaves them. */
  provisioned(location: string, ...ids: string[]): void {
    for (const id of ids) {
      this.datasets.set(id, {
        kind: 'bigquery#dataset', id: `${this.projectId}:${id}`, location, etag: 'e1', datasetReference: { projectId: this.projectId, datasetId: id },
        access: [{ role: 'OWNER', specialGroup: 'projectOwners' }, { role: 'WRITER', specialGroup: 'projectWriters' }, { role: 'READER', specialGroup: 'projectReaders' }],
      });
    }
  }

  private route(method: string, path: string, query: Partial<Record<string, string>>, body: JsonBody): Reply {
    let m: RegExpExecArray | null;
    // Dataform: collections take the new resource's id as a query parameter.
    const collections: Record<string, string> = { repositories: 'repositoryId', releaseConfigs: 'releaseConfigId', workflowConfigs: 'workflowConfigId' };
    if ((m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+(?:\/repositories\/[^/]+)?)\/(repositories|releaseConfigs|workflowConfigs|compilationResults)$/.exec(path)) && method === 'POST') {
      const [parent, collection] = [m[1], m[2]];
      if (collection !== 'repositories' && !this.dataform.has(parent)) return notFound(parent);
      const id = collection === 'compilationResults' ? `result-${this.dataform.size + 1}` : query[collections[collection]];
      const name = `${parent}/${collection}/${id}`;
      if (this.dataform.has(name)) return [409, { error: { code: 409, message: `${name} already exists`, status: 'ALREADY_EXISTS' } }];
      const resource = collection === 'compilationResults'
        ? { ...body, name, compilationErrors: this.compilationErrors, dataformCoreVersion: '3.0.62' }
        : { ...body, name };
      this.dataform.set(name, resource);
      return [200, resource];
    }
    if ((m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/repositories\/[^/]+):computeAccessTokenStatus$/.exec(path)) && method === 'GET') {
      return this.dataform.has(m[1]) ? [200, { tokenStatus: this.tokenStatus }] : notFound(m[1]);
    }
    if ((m = /^\/v1\/(projects\/[^/]+\/locations\/[^/]+\/repositories\/[^/]+(?:\/(?:releaseConfigs|workflowConfigs)\/[^/]+)?)$/.exec(path))) {
      const resource = this.dataform.get(m[1]);
      if (!resource) return notFound(m[1]);
      if (method === 'GET') return [200, resource];
      if (method === 'PATCH') {
        // updateMask names the fields to change, in snake_case or camelCase.
        const fields = (query.updateMask ?? '').split(',').filter(Boolean).map((f) => f.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()));
        for (const field of fields) resource[field] = body[field];
        return [200, resource];
      }
    }
    // Secret Manager: the secret's IAM policy.
    if ((m = /^\/v1\/(projects\/[^/]+\/secrets\/[^/:]+):(getIamPolicy|setIamPolicy)$/.exec(path))) {
      if (!this.secrets.has(m[1])) return notFound(m[1]);
      return this.policy(`secret:${m[1]}`, m[2], body);
    }
    // IAM: service accounts and their policies.
    if ((m = /^\/v1\/projects\/[^/]+\/serviceAccounts\/([^/:]+)$/.exec(path)) && method === 'GET') {
      const account = this.serviceAccounts.get(m[1]);
      return account ? [200, account] : notFound(m[1]);
    }
    if ((m = /^\/v1\/projects\/([^/]+)\/serviceAccounts$/.exec(path)) && method === 'POST') {
      const email = `${body.accountId}@${m[1]}.iam.gserviceaccount.com`;
      const account = { ...body.serviceAccount, name: `projects/${m[1]}/serviceAccounts/${email}`, projectId: m[1], email, uniqueId: '1000' };
      this.serviceAccounts.set(email, account);
      return [200, account];
    }
    if ((m = /^\/v1\/projects\/[^/]+\/serviceAccounts\/([^/:]+):(getIamPolicy|setIamPolicy)$/.exec(path)) && method === 'POST') {
      if (!this.serviceAccounts.has(m[1])) return notFound(m[1]);
      return this.policy(`serviceAccount:${m[1]}`, m[2], body);
    }
    // Resource Manager: the project and its policy.
    if ((m = /^\/v1\/projects\/([^/:]+)$/.exec(path)) && method === 'GET') {
      return [200, { projectId: m[1], projectNumber: this.projectNumber, lifecycleState: 'ACTIVE' }];
    }
    if ((m = /^\/v1\/projects\/([^/:]+):(getIamPolicy|setIamPolicy)$/.exec(path)) && method === 'POST') return this.policy(`project:${m[1]}`, m[2], body);
    // BigQuery datasets (PATCH updates the fields given, as datasets.patch does).
    if ((m = /^\/bigquery\/v2\/projects\/[^/]+\/datasets\/([^/]+)$/.exec(path))) {
      const dataset = this.datasets.get(m[1]);
      if (!dataset) return notFound(m[1]);
      if (method === 'GET') return [200, dataset];
      if (method === 'PATCH') {
        // BigQuery answers access entries with the basic role a predefined dataset role maps to.
        const basic: Record<string, string> = { 'roles/bigquery.dataViewer': 'READER', 'roles/bigquery.dataEditor': 'WRITER', 'roles/bigquery.dataOwner': 'OWNER' };
        const updated = { ...dataset, ...body, etag: `${String(dataset.etag)}+` };
        if (body.access) updated.access = (body.access as { role: string }[]).map((entry) => ({ ...entry, role: basic[entry.role] ?? entry.role }));
        this.datasets.set(m[1], updated);
        return [200, updated];
      }
    }
    return [501, { error: { code: 501, message: `the fake does not implement ${method} ${path}` } }];
  }

  /** getIamPolicy / setIamPolicy with etags: a set with a stale etag is refused, as IAM refuses it. */
  private policy(key: string, verb: string, body: JsonBody): Reply {
    const current = this.policies.get(key) ?? { version: 1, etag: Buffer.from('etag-0').toString('base64') };
    if (verb === 'getIamPolicy') return [200, current];
    if (body.policy.etag !== current.etag) return [409, { error: { code: 409, message: 'There were concurrent policy changes.', status: 'ABORTED' } }];
    // Etags are bytes, base64 in JSON: the client libraries decode and re-encode them.
    const next = { ...body.policy, etag: Buffer.from(`etag-${this.requests.length}`).toString('base64') };
    this.policies.set(key, next);
    return [200, next];
  }
}
