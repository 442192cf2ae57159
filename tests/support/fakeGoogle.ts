// A local HTTP endpoint that answers the few Cloud Storage and BigQuery REST calls the orchestrator
// makes, keeps what was created in memory, and records every request, so tests can assert them.
import http from 'node:http';
import { CRC32C } from '@google-cloud/storage';

/** A JSON request body: its shape is the API's, and the tests assert it field by field. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a body has the API's shape, which the tests check field by field
type JsonBody = any;

export interface RecordedRequest {
  method: string;
  path: string;
  body: unknown;
  /** performance.now() when it arrived, to order requests across fakes. */
  at: number;
}

/** A query job BigQuery was asked to run (the jobs Dataform starts). */
export interface RecordedJob {
  jobId: string;
  query: string;
  dryRun: boolean;
  location?: string;
}

/** One insertAll request as received: how many rows, how many bytes. */
export interface InsertAllCall {
  rows: number;
  bytes: number;
  skipInvalidRows: boolean;
}

/** BigQuery's limit on an HTTP request (insertAll included). */
const MAX_REQUEST_BYTES = 10 * 1024 * 1024;

export class FakeGoogleApis {
  readonly requests: RecordedRequest[] = [];
  readonly jobs: RecordedJob[] = [];
  readonly insertAllCalls: InsertAllCall[] = [];
  /** The row count an assertion query finds, by the assertion's `project.dataset.name` (none by default). */
  readonly assertionRows = new Map<string, number>();
  /** Why BigQuery refuses a row of insertAll (as `invalid` at `location`), or undefined to accept it. */
  refuseRow: (json: Record<string, unknown>) => { location: string; message: string } | undefined = () => undefined;
  /** Service Usage answers generateServiceIdentity with an operation still running, done on the next poll. */
  serviceIdentityPending = true;
  readonly buckets = new Map<string, Record<string, unknown>>();
  readonly datasets = new Map<string, Record<string, unknown>>();
  readonly tables = new Map<string, Record<string, unknown>>();
  readonly tablePolicies = new Map<string, Record<string, unknown>>();
  readonly objects = new Map<string, Buffer>();
  /** Rows received through insertAll, by `dataset.table`. */
  readonly inserted = new Map<string, { insertId?: string; json: Record<string, unknown> }[]>();
  /** Answers jobs.query (POST .../queries) with a schema and rows in the API's f/v form; unset: 501. */
  onQuery?: (body: JsonBody) => Promise<{ fields: { name: string; type: string }[]; rows: (string | null)[][] }>;
  private readonly uploads = new Map<string, { bucket: string; name: string }>();
  private server?: http.Server;
  private endpoint = '';

  constructor(readonly projectNumber = '123456789012') {}

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', this.endpoint);
        const raw = Buffer.concat(chunks);
        const media = url.pathname.startsWith('/upload/') && req.method === 'PUT';
        const body = media || raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
        this.requests.push({ method: req.method ?? '', path: url.pathname, body: media ? `<${raw.length} bytes>` : body, at: performance.now() });
        if (url.pathname.endsWith('/insertAll')) this.insertAllCalls.push({ rows: body?.rows?.length ?? 0, bytes: raw.length, skipInvalidRows: body?.skipInvalidRows === true });
        const reply = ([status, payload, headers]: [number, unknown, Record<string, string>?]) => {
          res.writeHead(status, { 'content-type': 'application/json', ...(headers ?? {}) });
          res.end(Buffer.isBuffer(payload) ? payload : JSON.stringify(payload));
        };
        const query = /^\/bigquery\/v2\/projects\/([^/]+)\/queries$/.exec(url.pathname);
        if (query && req.method === 'POST' && this.onQuery) {
          this.onQuery(body).then(
            ({ fields, rows }) => reply([200, {
              kind: 'bigquery#queryResponse', jobComplete: true, cacheHit: false, totalRows: String(rows.length),
              jobReference: { projectId: query[1], jobId: `job-${this.requests.length}`, location: body.location },
              schema: { fields: fields.map((f) => ({ ...f, mode: 'NULLABLE' })) }, rows: rows.map((row) => ({ f: row.map((v) => ({ v })) })),
            }]),
            (error: unknown) => reply([400, { error: { code: 400, message: String(error), errors: [{ reason: 'invalidQuery', message: String(error) }] } }]),
          );
          return;
        }
        reply(raw.length > MAX_REQUEST_BYTES
          ? [400, { error: { code: 400, message: `Request payload size exceeds the limit: ${MAX_REQUEST_BYTES} bytes.`, errors: [{ reason: 'badRequest' }] } }]
          : this.objectRoute(req.method ?? '', url, body, raw) ?? this.jobRoute(req.method ?? '', url, body) ?? this.route(req.method ?? '', url.pathname, body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const address = this.server.address() as { port: number };
    this.endpoint = `http://127.0.0.1:${address.port}`;
    return this.endpoint;
  }

  stop(): void {
    this.server?.close();
  }

  /** The requests that change something (anything but a read). */
  writes(): RecordedRequest[] {
    return this.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith(':getIamPolicy'));
  }

  private objectMetadata(bucket: string, name: string) {
    const data = this.objects.get(`${bucket}/${name}`)!;
    const crc = new CRC32C();
    crc.update(data);
    return { kind: 'storage#object', bucket, name, size: String(data.length), crc32c: crc.toString(), generation: '1' };
  }

  /** Resumable uploads and media downloads: enough of the object API for one-chunk files. */
  private objectRoute(method: string, url: URL, body: JsonBody, raw: Buffer): [number, unknown, Record<string, string>?] | undefined {
    let m: RegExpExecArray | null;
    if ((m = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname))) {
      if (method === 'POST' && url.searchParams.get('uploadType') === 'resumable') {
        const id = `upload-${this.uploads.size + 1}`;
        this.uploads.set(id, { bucket: m[1], name: url.searchParams.get('name') ?? body?.name });
        return [200, {}, { location: `${this.endpoint}/upload/storage/v1/b/${m[1]}/o?uploadType=resumable&upload_id=${id}` }];
      }
      const upload = this.uploads.get(url.searchParams.get('upload_id') ?? '');
      if (method === 'PUT' && upload) {
        this.objects.set(`${upload.bucket}/${upload.name}`, raw);
        return [200, this.objectMetadata(upload.bucket, upload.name)];
      }
    }
    if ((m = /^\/(?:download\/)?storage\/v1\/b\/([^/]+)\/o\/([^/]+)$/.exec(url.pathname)) && method === 'GET') {
      const [bucket, name] = [m[1], decodeURIComponent(m[2])];
      const data = this.objects.get(`${bucket}/${name}`);
      if (!data) return [404, { error: { code: 404, message: 'No such object' } }];
      const metadata = this.objectMetadata(bucket, name);
      if (url.searchParams.get('alt') === 'media') return [200, data, { 'content-type': 'application/octet-stream', 'x-goog-hash': `crc32c=${metadata.crc32c}` }];
      return [200, metadata];
    }
    return undefined;
  }

  /**
   * Query jobs, as the BigQuery client runs them: jobs.insert, then getQueryResults and jobs.get.
   * Every job succeeds at once; an assertion's `select sum(1) as row_count from X` finds the rows
   * `assertionRows` says. A dry-run job has no results to fetch, as on BigQuery.
   */
  private jobRoute(method: string, url: URL, body: JsonBody): [number, unknown] | undefined {
    let m: RegExpExecArray | null;
    const jobResource = (job: RecordedJob, project: string) => ({
      kind: 'bigquery#job', id: `${project}:${job.location}.${job.jobId}`,
      jobReference: { projectId: project, jobId: job.jobId, location: job.location },
      status: { state: 'DONE' }, statistics: { query: { totalBytesProcessed: '0', totalBytesBilled: '0' } },
      configuration: { query: { query: job.query }, dryRun: job.dryRun },
    });
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/jobs$/.exec(url.pathname)) && method === 'POST') {
      const job: RecordedJob = {
        jobId: body.jobReference?.jobId ?? `job-${this.jobs.length + 1}`,
        query: body.configuration?.query?.query ?? '',
        dryRun: body.configuration?.dryRun === true,
        location: body.jobReference?.location,
      };
      this.jobs.push(job);
      return [200, jobResource(job, m[1])];
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/(jobs|queries)\/([^/]+)$/.exec(url.pathname)) && method === 'GET') {
      const job = this.jobs.find((j) => j.jobId === m![3]);
      if (!job || (job.dryRun && m[2] === 'queries')) return [404, { error: { code: 404, message: `Not found: Job ${m[1]}:${m[3]}`, errors: [{ reason: 'notFound' }] } }];
      if (m[2] === 'jobs') return [200, jobResource(job, m[1])];
      const assertion = /^select sum\(1\) as row_count from `([^`]+)`$/.exec(job.query.trim());
      const rows = assertion ? [{ f: [{ v: this.assertionRows.has(assertion[1]) ? String(this.assertionRows.get(assertion[1])) : null }] }] : [];
      return [200, {
        kind: 'bigquery#getQueryResultsResponse', jobReference: { projectId: m[1], jobId: job.jobId, location: job.location }, jobComplete: true,
        totalRows: String(rows.length), rows, schema: { fields: assertion ? [{ name: 'row_count', type: 'INTEGER', mode: 'NULLABLE' }] : [] },
      }];
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets$/.exec(url.pathname)) && method === 'GET') {
      return [200, { kind: 'bigquery#datasetList', datasets: [...this.datasets.keys()].map((id) => ({ id: `${m![1]}:${id}`, datasetReference: { projectId: m![1], datasetId: id } })) }];
    }
    return undefined;
  }

  private route(method: string, path: string, body: JsonBody): [number, unknown] {
    const notFound: [number, unknown] = [404, { error: { code: 404, message: `Not found: ${path}`, errors: [{ reason: 'notFound' }] } }];
    let m: RegExpExecArray | null;
    if ((m = /^\/storage\/v1\/projects\/[^/]+\/serviceAccount$/.exec(path))) {
      return [200, { kind: 'storage#serviceAccount', email_address: `service-${this.projectNumber}@gs-project-accounts.iam.gserviceaccount.com` }];
    }
    if ((m = /^\/storage\/v1\/b\/([^/]+)$/.exec(path)) && method === 'GET') {
      const bucket = this.buckets.get(m[1]);
      return bucket ? [200, bucket] : notFound;
    }
    if (path === '/storage/v1/b' && method === 'POST') {
      this.buckets.set(body.name, { ...body, kind: 'storage#bucket', location: String(body.location).toUpperCase() });
      return [200, this.buckets.get(body.name)];
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)$/.exec(path)) && method === 'GET') {
      const dataset = this.datasets.get(m[2]);
      return dataset ? [200, dataset] : notFound;
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets$/.exec(path)) && method === 'POST') {
      const id = body.datasetReference.datasetId;
      this.datasets.set(id, { ...body, id: `${m[1]}:${id}`, datasetReference: { projectId: m[1], datasetId: id } });
      return [200, this.datasets.get(id)];
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/:]+)$/.exec(path)) && method === 'GET') {
      const table = this.tables.get(`${m[2]}.${m[3]}`);
      // A test may set the table's lastModifiedTime (what `status` compares with); else a fixed one.
      return table ? [200, { numRows: String(this.inserted.get(`${m[2]}.${m[3]}`)?.length ?? 0), lastModifiedTime: '1700000000000', ...table }] : notFound;
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables$/.exec(path)) && method === 'POST') {
      const key = `${m[2]}.${body.tableReference.tableId}`;
      if (!this.datasets.has(m[2])) return notFound;
      this.tables.set(key, { ...body, id: `${m[1]}:${key}` });
      return [200, this.tables.get(key)];
    }
    if ((m = /^\/bigquery\/v2\/projects\/([^/]+)\/datasets\/([^/]+)\/tables\/([^/:]+)\/insertAll$/.exec(path)) && method === 'POST') {
      const key = `${m[2]}.${m[3]}`;
      if (!this.tables.has(key)) return notFound;
      const rows = body.rows as { insertId?: string; json: Record<string, unknown> }[];
      const refused = rows.map((row) => this.refuseRow(row.json));
      // As BigQuery: without skipInvalidRows one invalid row stops the whole request ("stopped").
      const insertErrors = refused.flatMap((reason, index) => reason
        ? [{ index, errors: [{ reason: 'invalid', location: reason.location, debugInfo: '', message: reason.message }] }]
        : body.skipInvalidRows || !refused.some(Boolean) ? [] : [{ index, errors: [{ reason: 'stopped', location: '', debugInfo: '', message: '' }] }]);
      const accepted = rows.filter((_, i) => !insertErrors.some((e) => e.index === i));
      this.inserted.set(key, [...(this.inserted.get(key) ?? []), ...accepted]);
      return [200, { kind: 'bigquery#tableDataInsertAllResponse', ...(insertErrors.length ? { insertErrors } : {}) }];
    }
    if ((m = /^\/v1beta1\/projects\/([^/]+)\/services\/([^/:]+):generateServiceIdentity$/.exec(path)) && method === 'POST') {
      const identity = { '@type': 'type.googleapis.com/google.api.serviceusage.v1beta1.ServiceIdentity', email: `service-${this.projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`, uniqueId: '1234567890' };
      return [200, this.serviceIdentityPending ? { name: 'operations/generate-identity-1', done: false } : { name: 'operations/generate-identity-1', done: true, response: identity }];
    }
    if (path === '/v1beta1/operations/generate-identity-1' && method === 'GET') {
      return [200, { name: 'operations/generate-identity-1', done: true, response: { '@type': 'type.googleapis.com/google.api.serviceusage.v1beta1.ServiceIdentity', email: `service-${this.projectNumber}@gcp-sa-pubsub.iam.gserviceaccount.com`, uniqueId: '1234567890' } }];
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
