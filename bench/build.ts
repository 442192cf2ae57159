// npm run bench -- build: how fast the local warehouse builds the models from raw rows.
// - First build from raw (what `transform --full-refresh` does after stg_events and
//   raw_partitions_processed are dropped) at H and 4H events: wall and CPU seconds (DuckDB's threads
//   included), per million events, and the slowest actions. The target is <= 3.5 s per million and
//   linear in the events.
// - The overlap case at H: the history and a 1% batch land in the same publish hour (`up` twice within
//   an hour); the incremental run must be no slower than a rebuild of the same rows from raw, measured
//   right after on the same warehouse. Then one conversation lands among the rows already read, inside
//   the landing window (the next run reads from the window's start), and one at the hour's start (the
//   next run reads the whole hour again): their cost against the same rebuild.
// Prints the numbers; asserts nothing. Raw rows are appended directly (no emulator). CPU seconds are
// the numbers to compare on a shared machine; wall seconds on a quiet one.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir, type Workdir } from '../orchestrator/config.js';
import type { CompiledGraph } from '../orchestrator/dataform/compile.js';
import { generateEvents } from '../orchestrator/generate/generator.js';
import { compileForDuckDb, transformLocal } from '../orchestrator/runner/local.js';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import type { RunSummary } from '../orchestrator/runner/run.js';
import { land } from './scaling.js';

const project = loadProjectConfig(PACKAGE_ROOT);
const log = (message: string) => process.stderr.write(`${message}\n`);
const historyConversations = Number(process.env.BENCH_HISTORY_CONVERSATIONS ?? 250_000);
// While tuning: the first build at H only (no 4H, no overlap case).
const onlyH = Boolean(process.env.BENCH_BUILD_ONLY_H);
const START = Date.parse('2024-02-01T00:00:00Z');
// Every row of the overlap case is published within this one hour, as `load` and `up` publish a file.
const HOUR = Date.parse('2024-03-01T10:00:00Z');

interface Timed {
  seconds: number;
  cpuSeconds: number;
  slowest: string;
}

const cpuSeconds = () => {
  const usage = process.resourceUsage();
  return (usage.userCPUTime + usage.systemCPUTime) / 1e6;
};

/** Runs the graph on the workdir's warehouse: execution seconds (as `transform` reports them) and the CPU it took. */
async function timedRun(workdir: Workdir, graph: CompiledGraph, what: string, fullRefresh = false): Promise<Timed> {
  const cpu = cpuSeconds();
  const run: RunSummary = await transformLocal({ project, workdir, graph, fullRefresh });
  const used = cpuSeconds() - cpu;
  if (!run.ok) throw new Error(`${what} failed: ${run.actions.filter((a) => a.status !== 'ok').map((a) => `${a.name}: ${a.error}`).join('; ')}`);
  const slowest = [...run.actions].sort((a, b) => b.seconds - a.seconds).slice(0, 4).map((a) => `${a.name.split('.').pop()} ${a.seconds.toFixed(2)}s`).join(', ');
  log(`${what}: ${run.seconds.toFixed(2)}s, ${used.toFixed(2)} CPU s (${slowest})`);
  return { seconds: run.seconds, cpuSeconds: used, slowest };
}

/** Drops what a rebuild from raw drops (README, "Protected history"), so the next --full-refresh reads every raw row again. */
async function dropEventLog(workdir: Workdir, graph: CompiledGraph): Promise<void> {
  const warehouse = await openLocalWarehouse(project, workdir);
  try {
    for (const name of ['stg_events', 'raw_partitions_processed']) {
      const table = (graph.tables ?? []).find((t) => t.target.name === name)?.target ?? (graph.operations ?? []).find((o) => o.target.name === name)?.target;
      if (!table) throw new Error(`no ${name} in the graph`);
      await warehouse.drop(table, 'table');
    }
  } finally {
    await warehouse.close();
  }
}

async function firstBuild(conversations: number, graph: CompiledGraph) {
  const workdir = resolveWorkdir(mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-build-')));
  try {
    const file = path.join(workdir.dir, 'history.ndjson');
    const history = await generateEvents(file, { conversations, seed: 42, start: new Date(START) });
    await land(workdir, file, 'history.ndjson');
    log(`${history.events} events landed`);
    return { events: history.events, ...(await timedRun(workdir, graph, `first build of ${history.events} events`)) };
  } finally {
    rmSync(workdir.dir, { recursive: true, force: true });
  }
}

async function overlap(conversations: number, graph: CompiledGraph) {
  const workdir = resolveWorkdir(mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-overlap-')));
  try {
    const historyFile = path.join(workdir.dir, 'history.ndjson');
    const batchFile = path.join(workdir.dir, 'batch.ndjson');
    const history = await generateEvents(historyFile, { conversations, seed: 42, start: new Date(START) });
    const batch = await generateEvents(batchFile, {
      conversations: Math.ceil(conversations / 100), seed: 43, start: new Date(START + 40 * 86_400_000), firstConversation: conversations,
    });
    let row = 0;
    // One publish hour for everything, a microsecond apart: the batch lands in the hour the history filled.
    const inTheHour = () => HOUR + Math.floor(row++ / 1000);
    await land(workdir, historyFile, 'history.ndjson', inTheHour);
    await timedRun(workdir, graph, `first build of ${history.events} events in one hour`);
    await land(workdir, batchFile, 'batch.ndjson', inTheHour);
    const incremental = await timedRun(workdir, graph, `incremental run, ${batch.events} events landed later in that hour`);
    // One conversation published in the middle of the batch's publish times, landing after the run that
    // read them (a subscription writing in batches): it falls inside the landing window, so the run
    // reads from the window's start (the batch's rows), not the hour.
    const windowFile = path.join(workdir.dir, 'window.ndjson');
    const inWindow = await generateEvents(windowFile, { conversations: 1, seed: 45, start: new Date(START + 41 * 86_400_000), firstConversation: conversations * 3 });
    const midBatch = HOUR + Math.floor((history.events + batch.events / 2) / 1000);
    await land(workdir, windowFile, 'window.ndjson', () => midBatch);
    const windowReread = await timedRun(workdir, graph, `incremental run, ${inWindow.events} events landed among the rows read, inside the landing window`);
    // One conversation landing late among the rows already read (published at the hour's start): the
    // hour is read again whole.
    const lateFile = path.join(workdir.dir, 'late.ndjson');
    const late = await generateEvents(lateFile, { conversations: 1, seed: 44, start: new Date(START + 41 * 86_400_000), firstConversation: conversations * 2 });
    await land(workdir, lateFile, 'late.ndjson', () => HOUR);
    const reread = await timedRun(workdir, graph, `incremental run, ${late.events} events landed among the rows read: the hour read again whole`);
    await dropEventLog(workdir, graph);
    const events = history.events + batch.events + inWindow.events + late.events;
    const rebuild = await timedRun(workdir, graph, `rebuild of the same ${events} events from raw`, true);
    return { events, incremental, windowReread, reread, rebuild };
  } finally {
    rmSync(workdir.dir, { recursive: true, force: true });
  }
}

export async function runBuildBench(): Promise<void> {
  const graph = await compileForDuckDb(project);
  const small = await firstBuild(historyConversations, graph);
  if (onlyH) {
    process.stdout.write(`first build of ${small.events} events: ${small.seconds.toFixed(2)} s (${(small.seconds / (small.events / 1e6)).toFixed(2)} per million), ` +
      `${small.cpuSeconds.toFixed(2)} CPU s (${(small.cpuSeconds / (small.events / 1e6)).toFixed(2)} per million); ${small.slowest}\n`);
    return;
  }
  const large = await firstBuild(historyConversations * 4, graph);
  const perMillion = (seconds: number, events: number) => +(seconds / (events / 1e6)).toFixed(2);
  const rows: [string, number | string, number | string][] = [
    ['events', small.events, large.events],
    ['first_build_seconds', +small.seconds.toFixed(2), +large.seconds.toFixed(2)],
    ['first_build_seconds_per_million', perMillion(small.seconds, small.events), perMillion(large.seconds, large.events)],
    ['first_build_cpu_seconds', +small.cpuSeconds.toFixed(2), +large.cpuSeconds.toFixed(2)],
    ['first_build_cpu_seconds_per_million', perMillion(small.cpuSeconds, small.events), perMillion(large.cpuSeconds, large.events)],
    ['first_build_slowest_actions', small.slowest, large.slowest],
  ];
  for (const [key, h, h4] of rows) process.stdout.write(`${key.padEnd(36)} H: ${String(h).padEnd(16)} 4H: ${h4}\n`);
  const linearity = (large.seconds / large.events) / (small.seconds / small.events);
  process.stdout.write(`${'first_build_per_event_4H_over_H'.padEnd(36)} ${linearity.toFixed(2)} (1.00 = linear; CPU ${((large.cpuSeconds / large.events) / (small.cpuSeconds / small.events)).toFixed(2)})\n`);

  const o = await overlap(historyConversations, graph);
  process.stdout.write(`${'overlap_events'.padEnd(36)} ${o.events}\n`);
  process.stdout.write(`${'overlap_incremental_seconds'.padEnd(36)} ${o.incremental.seconds.toFixed(2)} (CPU ${o.incremental.cpuSeconds.toFixed(2)}; ${o.incremental.slowest})\n`);
  process.stdout.write(`${'overlap_late_in_window_seconds'.padEnd(36)} ${o.windowReread.seconds.toFixed(2)} (CPU ${o.windowReread.cpuSeconds.toFixed(2)}; ${o.windowReread.slowest})\n`);
  process.stdout.write(`${'overlap_late_row_reread_seconds'.padEnd(36)} ${o.reread.seconds.toFixed(2)} (CPU ${o.reread.cpuSeconds.toFixed(2)}; ${o.reread.slowest})\n`);
  process.stdout.write(`${'overlap_rebuild_from_raw_seconds'.padEnd(36)} ${o.rebuild.seconds.toFixed(2)} (CPU ${o.rebuild.cpuSeconds.toFixed(2)}; ${o.rebuild.slowest})\n`);
  process.stdout.write(`${'overlap_incremental_over_rebuild'.padEnd(36)} ${(o.incremental.seconds / o.rebuild.seconds).toFixed(2)} (CPU ${(o.incremental.cpuSeconds / o.rebuild.cpuSeconds).toFixed(2)}; target <= 1)\n`);
  process.stdout.write(`${'overlap_late_in_window_over_rebuild'.padEnd(36)} ${(o.windowReread.seconds / o.rebuild.seconds).toFixed(2)} (CPU ${(o.windowReread.cpuSeconds / o.rebuild.cpuSeconds).toFixed(2)})\n`);
  process.stdout.write(`${'overlap_late_reread_over_rebuild'.padEnd(36)} ${(o.reread.seconds / o.rebuild.seconds).toFixed(2)} (CPU ${(o.reread.cpuSeconds / o.rebuild.cpuSeconds).toFixed(2)})\n`);
}
