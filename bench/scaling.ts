// npm run bench -- scaling: what an incremental run costs as the history grows. The same batch of new
// conversations (1% of the smaller history) lands after a history of H events and of 4H events; at
// each size it prints the first build from raw, a --full-refresh, the incremental run's time, the rows
// its DuckDB scans read, and the BigQuery bytes `orchestrator check --cost` estimates for it.
// Prints the numbers; asserts nothing. Raw rows are appended directly (no emulator): this measures the
// transform, and each row's publish time follows its event's time, as a live stream's would.
import { copyFileSync, createReadStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { estimateRun } from '../orchestrator/bigquery/estimate.js';
import { ZetaSqlServer } from '../orchestrator/bigquery/zetasql.js';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir, type Workdir } from '../orchestrator/config.js';
import { compileProject } from '../orchestrator/dataform/compile.js';
import { toEventMessage } from '../orchestrator/events/message.js';
import { readRecords } from '../orchestrator/events/reader.js';
import { generateEvents } from '../orchestrator/generate/generator.js';
import { compileForDuckDb, transformLocal } from '../orchestrator/runner/local.js';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import { DuckDbWarehouse } from '../orchestrator/warehouse/duckdb.js';
import { Timestamp, type RawRow } from '../orchestrator/warehouse/warehouse.js';

const project = loadProjectConfig(PACKAGE_ROOT);
const log = (message: string) => process.stderr.write(`${message}\n`);
const historyConversations = Number(process.env.BENCH_HISTORY_CONVERSATIONS ?? 250_000);
const batchConversations = Math.ceil(historyConversations / 100);
const START = Date.parse('2024-02-01T00:00:00Z');
const MB = 1024 * 1024;

/** When a landed row was published, from the latest event time read so far: by default 2 s after it. */
export type PublishTime = (lastEventMs: number) => number;

/** Appends a generated file to the raw table, each row published 2 s after its event's time (or at `publishTime`). */
export async function land(workdir: Workdir, file: string, source: string, publishTime: PublishTime = (ms) => ms + 2000): Promise<{ rows: number; bytes: number; lastEventMs: number }> {
  const warehouse = await openLocalWarehouse(project, workdir);
  let rows = 0;
  let bytes = 0;
  let lastEventMs = START;
  try {
    await warehouse.ensureRawTable(project.raw);
    let batch: RawRow[] = [];
    for await (const record of readRecords(createReadStream(file))) {
      const message = toEventMessage(record, source);
      const sentTime = (record.value as { messageSentTime?: unknown } | undefined)?.messageSentTime;
      const sent = typeof sentTime === 'string' ? Date.parse(sentTime) : Number.NaN;
      if (!Number.isNaN(sent)) lastEventMs = Math.max(lastEventMs, sent);
      const attributes = JSON.stringify(message.attributes);
      batch.push({
        subscription_name: 'bench', message_id: `${source}-${record.position}`,
        publish_time: new Timestamp(BigInt(publishTime(lastEventMs)) * 1000n), data: message.data, attributes,
      });
      rows++;
      // The raw row's logical bytes as BigQuery counts them (the subscription name is never read).
      bytes += 3 * 2 + Buffer.byteLength(batch.at(-1)!.message_id) + 8 + Buffer.byteLength(message.data) + Buffer.byteLength(attributes);
      if (batch.length >= 10_000) { await warehouse.appendRawRows(project.raw, batch); batch = []; }
    }
    await warehouse.appendRawRows(project.raw, batch);
  } finally {
    await warehouse.close();
  }
  return { rows, bytes, lastEventMs };
}

interface SizeResult {
  history_events: number;
  full_build_seconds: number;
  full_build_seconds_per_million: number;
  full_refresh_seconds: number;
  incremental_events: number;
  incremental_seconds: number;
  incremental_slowest_actions: string;
  incremental_rows_scanned: number;
  incremental_rows_scanned_by_table: string;
  new_raw_bytes: number;
  estimated_bytes: number;
  estimated_billed_bytes: number;
  dominant_statements: string;
}

async function measure(historyCount: number, server: ZetaSqlServer): Promise<SizeResult> {
  const workdir = resolveWorkdir(mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-scaling-')));
  try {
    const historyFile = path.join(workdir.dir, 'history.ndjson');
    const batchFile = path.join(workdir.dir, 'batch.ndjson');
    const history = await generateEvents(historyFile, { conversations: historyCount, seed: 42, start: new Date(START) });
    const landed = await land(workdir, historyFile, 'history.ndjson');
    log(`history: ${history.events} events landed`);

    const graph = await compileForDuckDb(project);
    const first = await transformLocal({ project, workdir, graph });
    if (!first.ok) throw new Error(`first build failed: ${first.actions.filter((a) => a.status !== 'ok').map((a) => `${a.name}: ${a.error}`).join('; ')}`);
    const refresh = await transformLocal({ project, workdir, graph, fullRefresh: true });
    if (!refresh.ok) throw new Error('full refresh failed');
    log(`first build ${first.seconds.toFixed(2)}s, --full-refresh ${refresh.seconds.toFixed(2)}s`);

    // The batch: the next conversations (new orders), from the start of the hour after the history
    // ends, so both sizes read the same window (a run also re-reads an hour that already held rows:
    // that share depends on where the hour boundary falls, not on the history).
    const nextHour = Math.ceil((landed.lastEventMs + 1) / 3_600_000) * 3_600_000;
    const batch = await generateEvents(batchFile, {
      conversations: batchConversations, seed: 43, start: new Date(nextHour), firstConversation: historyCount,
    });
    const newRows = await land(workdir, batchFile, 'batch.ndjson');

    // The estimate replays the incremental run on a copy of the warehouse.
    const copyDir = path.join(workdir.dir, 'estimate');
    mkdirSync(copyDir, { recursive: true });
    const copyFile = path.join(copyDir, 'warehouse.duckdb');
    copyFileSync(workdir.warehouseFile, copyFile);
    const copy = await DuckDbWarehouse.open(copyFile, { database: project.database });
    let estimate;
    try {
      estimate = await estimateRun(server, copy, {
        duckdbGraph: graph, bigqueryGraph: await compileProject(project.projectDir, { engine: 'bigquery' }), raw: project.raw,
      });
    } finally {
      await copy.close();
    }
    if (process.env.BENCH_VERBOSE) {
      for (const s of estimate.statements) {
        const scans = s.scans.map((c) => `${c.table.split('.').pop()}[${c.columns.length} cols, ${c.partitions.kept}/${c.partitions.total} partitions, ${c.blocks.kept}/${c.blocks.total} blocks, read ${(c.bytes / MB).toFixed(2)} MB, dml ${(c.dmlBytes / MB).toFixed(2)} MB]`);
        log(`  ${s.action.split('.').pop()!.padEnd(38)} ${s.purpose.padEnd(48)} ${(s.bytes / MB).toFixed(2).padStart(8)} MB ${s.error ?? scans.join(' ')}`);
      }
    }
    const errors = estimate.statements.filter((s) => s.error);
    if (errors.length) log(`estimate: ${errors.length} statement(s) not analysed, first: ${errors[0].action} ${errors[0].purpose}: ${errors[0].error}`);

    const incremental = await transformLocal({ project, workdir, graph, profileFile: path.join(workdir.dir, 'profile.json') });
    if (!incremental.ok) throw new Error('incremental run failed');
    if (process.env.BENCH_VERBOSE) {
      for (const a of [...incremental.actions].sort((x, y) => y.seconds - x.seconds)) log(`  ${a.name.split('.').pop()!.padEnd(38)} ${a.seconds.toFixed(3)} s`);
    }
    const rowsScanned = Object.values(incremental.rowsScanned ?? {}).reduce((a, b) => a + b, 0);
    const top = [...estimate.statements].sort((a, b) => b.bytes - a.bytes).slice(0, 3)
      .map((s) => `${s.action.split('.').pop()} ${s.purpose} ${(s.bytes / MB).toFixed(2)} MB`).join('; ');
    return {
      history_events: history.events,
      full_build_seconds: +first.seconds.toFixed(2),
      full_build_seconds_per_million: +(first.seconds / (history.events / 1e6)).toFixed(2),
      full_refresh_seconds: +refresh.seconds.toFixed(2),
      incremental_events: batch.events,
      incremental_seconds: +incremental.seconds.toFixed(3),
      incremental_slowest_actions: [...incremental.actions].sort((a, b) => b.seconds - a.seconds).slice(0, 3)
        .map((a) => `${a.name.split('.').pop()} ${a.seconds.toFixed(2)}s`).join(', '),
      incremental_rows_scanned: rowsScanned,
      incremental_rows_scanned_by_table: Object.entries(incremental.rowsScanned ?? {}).sort((a, b) => b[1] - a[1]).slice(0, 4)
        .map(([table, rows]) => `${table.split('.').pop()} ${rows}`).join(', '),
      new_raw_bytes: newRows.bytes,
      estimated_bytes: estimate.bytes,
      estimated_billed_bytes: estimate.billedBytes,
      dominant_statements: top,
    };
  } finally {
    rmSync(workdir.dir, { recursive: true, force: true });
  }
}

export async function runScalingBench(): Promise<void> {
  const server = await ZetaSqlServer.start();
  try {
    const small = await measure(historyConversations, server);
    const large = await measure(historyConversations * 4, server);
    for (const [key, value] of Object.entries(small)) {
      const other = large[key as keyof SizeResult];
      const ratio = typeof value === 'number' && typeof other === 'number' && value > 0 ? `  (x${(other / value).toFixed(2)})` : '';
      process.stdout.write(`${key.padEnd(34)} H: ${String(value).padEnd(14)} 4H: ${other}${ratio}\n`);
    }
    process.stdout.write(`${'estimated_bytes_per_new_raw_byte'.padEnd(34)} H: ${(small.estimated_bytes / small.new_raw_bytes).toFixed(1)}  4H: ${(large.estimated_bytes / large.new_raw_bytes).toFixed(1)}\n`);
  } finally {
    server.stop();
  }
}
