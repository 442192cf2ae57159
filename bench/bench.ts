// npm run bench: about a million events end to end through the Pub/Sub emulator and the DuckDB
// warehouse, then a first build of the models. Prints the numbers; asserts nothing.
// npm run bench -- scaling: the same incremental batch after a history of H and of 4H events (scaling.ts).
// npm run bench -- build: first build from raw at H and 4H events, and the overlap case (build.ts).
// npm run bench -- emulator-memory: `up` against an emulator with a small heap, its memory sampled (emulatorMemory.ts).
// npm run bench -- up: the real `orchestrator up` timed whole, with its phases, CPU and peak RSS (up.ts).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir } from '../orchestrator/config.js';
import { generateEvents } from '../orchestrator/generate/generator.js';
import { emulatorClients, type PubSubClients } from '../orchestrator/pubsub/clients.js';
import { start, stop, type EmulatorState } from '../orchestrator/pubsub/emulator.js';
import { publishAndLand } from '../orchestrator/pipeline/local.js';
import { provisionLocal } from '../orchestrator/pipeline/provision.js';
import { compileForDuckDb, transformLocal } from '../orchestrator/runner/local.js';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import { runBuildBench } from './build.js';
import { runEmulatorMemoryBench } from './emulatorMemory.js';
import { runScalingBench } from './scaling.js';
import { runUpBench } from './up.js';

const conversations = Number(process.env.BENCH_CONVERSATIONS ?? 250_000);
const project = loadProjectConfig(PACKAGE_ROOT);
const workdir = resolveWorkdir(mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-bench-')));
const log = (message: string) => process.stderr.write(`${message}\n`);
const results: Record<string, number | string> = {};
const rate = (n: number, seconds: number) => Math.round(n / seconds);

function emulatorPeakRssMb(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

/** Publishes a file while the sink lands it; returns when every message is in the raw table. */
async function endToEnd(clients: PubSubClients, state: EmulatorState, file: string) {
  const warehouse = await openLocalWarehouse(project, workdir);
  try {
    const started = performance.now();
    const { publish: published, landed } = await publishAndLand(project, workdir, { clients, state, startedHere: true }, warehouse, file, { idleSeconds: 1 });
    // The sink's last second is idle time, not work.
    const total = (performance.now() - started) / 1000 - 1;
    return { published, landed, total };
  } finally {
    await warehouse.close();
  }
}

async function emulatorAlone(clients: PubSubClients, file: string) {
  const topic = clients.pubsub.topic('bench-alone');
  await topic.create().catch(() => undefined);
  const [subscription] = await topic.createSubscription('bench-alone-sub', { ackDeadlineSeconds: 60 });
  const published = await (await import('../orchestrator/pubsub/publisher.js')).publishRecords(topic, (await import('node:fs')).createReadStream(file), { source: 'bench' });
  const started = performance.now();
  let pulled = 0;
  while (pulled < published.published) {
    const batches = await Promise.all([0, 1, 2].map(() => clients.subscriber.pull({ subscription: subscription.name, maxMessages: 1000, returnImmediately: true }).then(([r]) => r.receivedMessages ?? [])));
    const messages = batches.flat();
    if (messages.length) await clients.subscriber.acknowledge({ subscription: subscription.name, ackIds: messages.map((m) => m.ackId!) });
    pulled += messages.length;
  }
  const pullSeconds = (performance.now() - started) / 1000;
  await subscription.delete();
  await topic.delete();
  return { publishRate: rate(published.published, published.seconds), pullRate: rate(pulled, pullSeconds), messages: pulled };
}

async function endToEndBench(): Promise<void> {
  try {
    const file = path.join(workdir.dir, 'bench.ndjson');
    let t = performance.now();
    const generated = await generateEvents(file, { conversations, seed: 42, start: new Date('2024-02-01T00:00:00Z') });
    results.events = generated.events;
    results.generate_seconds = +((performance.now() - t) / 1000).toFixed(2);
    log(`generated ${generated.events} events (${(generated.bytes / 1e6).toFixed(0)} MB) in ${results.generate_seconds}s`);

    const emulator = await start(workdir);
    const clients = emulatorClients(`${emulator.state.host}:${emulator.state.port}`, project.database);
    const graph = await compileForDuckDb(project);
    try {
      const warehouse = await openLocalWarehouse(project, workdir);
      await provisionLocal(project, workdir, clients, warehouse);
      await warehouse.close();

      const run = await endToEnd(clients, emulator.state, file);
      results.publish_events_per_s = rate(run.published.published, run.published.seconds);
      results.sink_events_per_s = rate(run.landed.rows, run.landed.seconds - 1);
      results.ingest_total_seconds = +run.total.toFixed(2);
      results.orchestrator_peak_rss_mb_after_ingest = Math.round(process.resourceUsage().maxRSS / 1024);
      log(`published ${run.published.published} in ${run.published.seconds.toFixed(1)}s, landed ${run.landed.rows}, end to end ${run.total.toFixed(1)}s`);

      t = performance.now();
      const full = await transformLocal({ project, workdir, graph, fullRefresh: true });
      if (!full.ok) throw new Error(`full refresh failed: ${full.actions.filter((a) => a.status !== 'ok').map((a) => `${a.name}: ${a.error}`).join('; ')}`);
      results.full_refresh_seconds = +full.seconds.toFixed(2);
      results.end_to_end_seconds = +(run.total + (performance.now() - t) / 1000).toFixed(2);
      log(`full refresh: ${full.seconds.toFixed(2)}s of execution`);

      const more = path.join(workdir.dir, 'bench-more.ndjson');
      await generateEvents(more, { conversations: Math.ceil(conversations / 100), seed: 43, start: new Date('2024-03-01T00:00:00Z'), firstConversation: conversations });
      // The incremental run is measured by `npm run bench -- scaling`: here the second batch would land in
      // the same publish hour as the first million events, and that hour would be read again whole.
      results.incremental = "see 'npm run bench -- scaling'";

      const alone = await emulatorAlone(clients, more);
      results.emulator_alone_publish_per_s = alone.publishRate;
      results.emulator_alone_pull_ack_per_s = alone.pullRate;
      results.emulator_peak_rss_mb = emulatorPeakRssMb(emulator.state.pid);
    } finally {
      await clients.close();
      await stop(workdir);
    }
    results.orchestrator_peak_rss_mb = Math.round(process.resourceUsage().maxRSS / 1024);
  } catch (error) {
    log(`bench failed: ${error instanceof Error ? error.stack : String(error)}`);
    process.exitCode = 1;
  } finally {
    for (const [key, value] of Object.entries(results)) process.stdout.write(`${key.padEnd(32)} ${value}\n`);
    rmSync(workdir.dir, { recursive: true, force: true });
  }
}

if (process.argv.slice(2).includes('scaling')) {
  rmSync(workdir.dir, { recursive: true, force: true });
  await runScalingBench();
} else if (process.argv.slice(2).includes('build')) {
  rmSync(workdir.dir, { recursive: true, force: true });
  await runBuildBench();
} else if (process.argv.slice(2).includes('emulator-memory')) {
  rmSync(workdir.dir, { recursive: true, force: true });
  await runEmulatorMemoryBench();
} else if (process.argv.slice(2).includes('up')) {
  rmSync(workdir.dir, { recursive: true, force: true });
  await runUpBench();
} else {
  await endToEndBench();
}
