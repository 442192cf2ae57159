// A local HTTP endpoint that answers the few Cloud Storage and BigQuery REST calls the orchestrator
// makes, keeps what was created in memory, and records every request, so tests can assert them.
import http from 'node:http';

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
}

export class FakeGoogleApis {
  readonly requests: RecordedRequest[] = [];
  readonly buckets = new Map<string, Record<string, unknown>>();
  readonly datasets = new Map<string, Record<string, unknown>>();
  readonly tables = new Map<string, Record<string, unknown>>();
  readonly tablePolicies = new Map<string, Record<string, unknown>>();
  private server?: http.Server;

  constructor(readonly projectNumber = '123456789012') {}

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => { raw += chunk.toString(); });
      req.on('end', () => {
        const path = (req.url ?? '').split('?')[0]!;
        const body = raw ? JSON.parse(raw) : undefined;
        this.requests.push({ method: req.method ?? '', path, body });
        const [status, answer] = this.route(req.method ?? '', path, body);
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address() as { port: number };
    return `http://127.0.0.1:${address.port}`;
  }

  stop(): void {
    this.server?.close();
  }

  /** The requests that change something (anything but a read). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith(':getIamPolicy'));
  }

  private route(method: string, path: string, body: any): [number, unknown] {
    const notFound: [number, unknown] = [404, { error: { code: 404, message: `Not found: ${path}`, errors: [{ reason: 'notFound' }] } }];
    let m: RegExpExecArray | null;
    if ((m = /^\/storage\/v1\/projects\/[^/]+\/serviceAccount$/.exec(path))) {
      return [200, { kind: 'storage#serviceAccount', email_address: `service-${this.projectNumber}@gs-project-accounts.iam.gserviceaccount.com` }];
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(path)) && method === 'GET') {
      const bucket = this.buckets.get(m[1]!);
      return bucket ? [200, bucket] : notFound;
    }
    if (path === '/storage/v1/b' && method === 'POST') {
      this.buckets.set(body.name, { ...body, kind: 'storage#bucket', location: String(body.location).toUpperCase() });
      return [200, this.buckets.get(body.name)];
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)$/.exec(path)) && method === 'GET') {
      const dataset = this.datasets.get(m[2]!);
      return dataset ? [200, dataset] : notFound;
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets$/.exec(path)) && method === 'POST') {
      const id = body.datasetReference.datasetId;
      this.datasets.set(id, { ...body, id: `${m[1]}:${id}`, datasetReference: { projectId: m[1], datasetId: id } });
      return [200, this.datasets.get(id)];
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/:]+)$/.exec(path)) && method === 'GET') {
      const table = this.tables.get(`${m[2]}.${m[3]}`);
      return table ? [200, table] : notFound;
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables$/.exec(path)) && method === 'POST') {
      const key = `${m[2]}.${body.tableReference.tableId}`;
      if (!this.datasets.has(m[2]!)) return notFound;
      this.tables.set(key, { ...body, id: `${m[1]}:${key}` });
      return [200, this.tables.get(key)];
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/:]+):(getIamPolicy|setIamPolicy)$/.exec(path))) {
      const key = `${m[2]}.${m[3]}`;
      if (!this.tables.has(key)) return notFound;
      if (m[4] === 'setIamPolicy') this.tablePolicies.set(key, { ...body.policy, etag: 'BwE=' });
      return [200, this.tablePolicies.get(key) ?? { etag: 'ACAB' }];
    }
    return [501, { error: { code: 501, message: `the fake does not implement ${method} ${path}` } }];
  }
}
