import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { Readable } from 'node:stream';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir, type ProjectConfig, type Workdir } from '../../orchestrator/config.js';
import type { CompiledGraph } from '../../orchestrator/dataform/compile.js';
import { parseJson } from '../../orchestrator/events/json.js';
import { toEventMessage } from '../../orchestrator/events/message.js';
import { readRecords } from '../../orchestrator/events/reader.js';
import { ndjsonLine } from '../../orchestrator/output/format.js';
import { compileForDuckDb, transformLocal } from '../../orchestrator/runner/local.js';
import { openLocalWarehouse } from '../../orchestrator/warehouse/local.js';
import type { RunSummary } from '../../orchestrator/runner/run.js';
import { Timestamp } from '../../orchestrator/warehouse/warehouse.js';
import type { Delivery, SpecRow } from './reference.js';

export const SHARED_DIR = path.resolve(PACKAGE_ROOT, '..', 'shared');
export const anchorPath = (name: string) => path.join(SHARED_DIR, 'anchors', name);

/**
 * customer_courier_conversations' columns in SPEC's order, read from the table in SPEC.md itself:
 * the tests' expectations come from the contract, not from the orchestrator's copy of it.
 */
export const SPEC_COLUMNS: string[] = (() => {
  const spec = readFileSync(path.join(SHARED_DIR, 'SPEC.md'), 'utf8');
  const section = spec.split(/^## /m).find((s) => s.startsWith('customer_courier_conversations\n'));
  const columns = [...(section ?? '').matchAll(/^\| ([a-z_]+) \| [A-Z0-9]+ \|/gm)].map((m) => m[1]);
  if (columns.length === 0) throw new Error('no customer_courier_conversations table in SPEC.md');
  return columns;
})();

let graph: Promise<CompiledGraph> | undefined;
const project: ProjectConfig = loadProjectConfig(PACKAGE_ROOT);

/** One compile of the real Dataform project per test process. */
export function compiledGraph(): Promise<CompiledGraph> {
  graph ??= compileForDuckDb(project);
  return graph;
}

let messageCounter = 0;

/** A delivery as the publisher makes it: data is the text, attributes carry SPEC's event_id when JSON. */
export function delivery(data: string | object, publishTime: string, extra: Partial<Delivery> = {}): Delivery {
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  const { value } = parseJson(text);
  const message = toEventMessage({ text, position: ++messageCounter, line: messageCounter, value }, 'test.json');
  return { data: text, publishTime, messageId: `m-${messageCounter}`, attributes: message.attributes, ...extra };
}

/** Deliveries for every record of a file, published at `publishTime` plus one millisecond per record. */
export async function fileDeliveries(file: string, publishTime: string): Promise<Delivery[]> {
  const base = Date.parse(publishTime);
  const deliveries: Delivery[] = [];
  for await (const record of readRecords(Readable.from([readFileSync(file, 'utf8')]))) {
    const message = toEventMessage(record, path.basename(file));
    deliveries.push({
      data: message.data,
      attributes: message.attributes,
      messageId: `${path.basename(file)}-${record.position}-${publishTime}`,
      publishTime: new Date(base + record.position).toISOString(),
    });
  }
  return deliveries;
}

export type PlainRow = Record<string, unknown>;

/** A throw-away work directory with its own DuckDB warehouse, driven like the CLI drives it. */
export class LocalPipeline {
  readonly project = project;
  readonly workdir: Workdir;

  constructor() {
    this.workdir = resolveWorkdir(mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-test-')));
  }

  /** A new pipeline whose warehouse starts as a copy of this one's. */
  clone(): LocalPipeline {
    const copy = new LocalPipeline();
    copyFileSync(this.workdir.warehouseFile, copy.workdir.warehouseFile);
    return copy;
  }

  async append(deliveries: Delivery[]): Promise<void> {
    const warehouse = await openLocalWarehouse(project, this.workdir);
    try {
      await warehouse.ensureRawTable(project.raw);
      await warehouse.appendRawRows(project.raw, deliveries.map((d) => ({
        subscription_name: 'test-subscription',
        message_id: d.messageId,
        publish_time: new Timestamp(BigInt(Date.parse(d.publishTime)) * 1000n),
        data: d.data,
        attributes: JSON.stringify(d.attributes),
      })));
    } finally {
      await warehouse.close();
    }
  }

  /** Runs the graph; fails the test with the failing actions' errors unless `allowFailure`. */
  async transform(options: {
    fullRefresh?: boolean; allowFailure?: boolean; assertionsOnly?: boolean; tags?: string[]; actions?: string[]; includeDependencies?: boolean; vars?: Record<string, string>;
    signal?: AbortSignal;
  } = {}): Promise<RunSummary> {
    const summary = await transformLocal({
      project, workdir: this.workdir, fullRefresh: options.fullRefresh, signal: options.signal,
      // The project compiled once per test process, unless the run overrides vars.
      ...(options.vars ? { vars: options.vars } : { graph: await compiledGraph() }),
      selection: options.assertionsOnly ? { assertionsOnly: true } : { tags: options.tags, actions: options.actions, includeDependencies: options.includeDependencies },
    });
    if (!summary.ok && !options.allowFailure) {
      const failures = summary.actions.filter((a) => a.status !== 'ok').map((a) => `${a.name}: ${a.error}`);
      throw new Error(`transform failed:\n${failures.join('\n')}`);
    }
    return summary;
  }

  /** Rows of a models-dataset table as plain JSON values (timestamps as RFC 3339 strings), sorted. */
  async rows(table: string, columns?: string[], orderBy = columns?.[0] ?? 'order_id'): Promise<PlainRow[]> {
    const warehouse = await openLocalWarehouse(project, this.workdir, true);
    try {
      const list = columns ? columns.map((c) => `"${c}"`).join(', ') : '*';
      const result = await warehouse.query(`SELECT ${list} FROM \`${project.database}.${project.modelsDataset}.${table}\` ORDER BY ${orderBy}`);
      return result.rows.map((row) => JSON.parse(ndjsonLine(row, result.columns)) as PlainRow);
    } finally {
      await warehouse.close();
    }
  }

  async conversations(): Promise<SpecRow[]> {
    return (await this.rows('customer_courier_conversations', SPEC_COLUMNS)) as unknown as SpecRow[];
  }

  /** Runs a statement on the warehouse, e.g. to tamper with a table so that an assertion must fail. */
  async execute(sql: string): Promise<void> {
    const warehouse = await openLocalWarehouse(project, this.workdir);
    try {
      await warehouse.execute(sql);
    } finally {
      await warehouse.close();
    }
  }

  table(name: string): string {
    return `\`${project.database}.${project.modelsDataset}.${name}\``;
  }

  dispose(): void {
    rmSync(this.workdir.dir, { recursive: true, force: true });
  }
}

/** A factory of LocalPipelines that the calling test file disposes of when it ends. */
export function pipelineFactory(): () => LocalPipeline {
  const pipelines: LocalPipeline[] = [];
  after(() => pipelines.forEach((p) => p.dispose()));
  return () => {
    const p = new LocalPipeline();
    pipelines.push(p);
    return p;
  };
}
