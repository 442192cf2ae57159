import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { ProjectConfig, Workdir } from '../config.js';
import { CONVERSATION_COLUMNS, FINAL_TABLE } from '../contract.js';
import { UserError } from '../errors.js';
import { generateEvents } from '../generate/generator.js';
import type { Target } from '../identifiers.js';
import type { Row } from '../warehouse/warehouse.js';
import { emulatorClients } from '../pubsub/clients.js';
import { start as startEmulator, stop as stopEmulator } from '../pubsub/emulator.js';
import type { PublishSummary } from '../pubsub/publisher.js';
import type { SinkSummary } from '../pubsub/sink.js';
import { transformLocal } from '../runner/local.js';
import { throwIfInterrupted, type ActionResult, type RunSummary } from '../runner/run.js';
import { LocalBuckets } from '../storage/bucket.js';
import { statInputFile } from '../storage/inputFile.js';
import { openLocalWarehouse } from '../warehouse/local.js';
import { publishAndLand } from './local.js';
import { provisionLocal, type ProvisionStep } from './provision.js';

export const SAMPLE_CONVERSATIONS = 400;

export interface UpOptions {
  project: ProjectConfig;
  workdir: Workdir;
  input?: string;
  log: (message: string) => void;
  onPublishProgress?: (published: number, bytesRead: number, totalBytes: number) => void;
  onSinkProgress?: (rows: number) => void;
  onActionDone?: (result: ActionResult) => void;
  signal?: AbortSignal;
}

export interface UpSummary {
  input: string;
  uploaded: string;
  emulatorStarted: boolean;
  provision: ProvisionStep[];
  publish: PublishSummary & { source: string };
  sink: SinkSummary;
  transform: RunSummary & { compileSeconds: number };
  /** Rows per table; null for a table a failed run has not created. */
  tables: Record<string, number | null>;
  rejects: number;
  assertions: { passed: number; failed: number };
  firstRows: Row[];
}

const REPORTED_TABLES = ['stg_events', 'conversations', 'orders', 'rejected_events', 'customer_courier_conversations'];

/**
 * The whole local flow: emulator (started if none runs for the work directory, stopped after if it
 * was started here), provision, upload, ingest and sink concurrently, transform with its assertions.
 */
export async function runUp(options: UpOptions): Promise<UpSummary> {
  const { project, workdir, log } = options;
  // Before the emulator starts: a wrong path costs one line, not an emulator start and stop.
  if (options.input) await statInputFile(options.input);
  const emulator = await startEmulator(workdir);
  log(emulator.started ? `started the Pub/Sub emulator on ${emulator.state.host}:${emulator.state.port}` : `using the Pub/Sub emulator on ${emulator.state.host}:${emulator.state.port}`);
  try {
    let input = options.input;
    if (!input) {
      mkdirSync(path.join(workdir.dir, 'samples'), { recursive: true });
      input = path.join(workdir.dir, 'samples', `sample-${SAMPLE_CONVERSATIONS}.ndjson`);
      const generated = await generateEvents(input, { conversations: SAMPLE_CONVERSATIONS, seed: 1, start: new Date('2024-02-01T10:00:00Z') });
      log(`generated a sample of ${generated.events} events (${SAMPLE_CONVERSATIONS} conversations) in ${input}`);
    }
    const clients = emulatorClients(`${emulator.state.host}:${emulator.state.port}`, project.database);
    const warehouse = await openLocalWarehouse(project, workdir);
    let provision: ProvisionStep[];
    let uploaded: string;
    let publish: UpSummary['publish'];
    let landed: SinkSummary;
    try {
      provision = await provisionLocal(project, workdir, clients, warehouse);
      uploaded = (await new LocalBuckets(workdir).upload(input, project.resources.bucket)).uri;
      log(`uploaded ${input} to ${uploaded}`);
      ({ publish, landed } = await publishAndLand(project, workdir, { clients, state: emulator.state, startedHere: emulator.started }, warehouse, uploaded, {
        idleSeconds: 2,
        signal: options.signal,
        onPublishProgress: options.onPublishProgress,
        onSinkProgress: options.onSinkProgress,
      }));
    } finally {
      await warehouse.close();
      await clients.close();
    }
    if (options.signal?.aborted) {
      throw new UserError(`interrupted after publishing ${publish.published} events; ${landed.rows} landed in the raw table, models not run`, 130);
    }
    log('running the models');
    const transform = await transformLocal({ project, workdir, onActionDone: options.onActionDone, signal: options.signal });
    throwIfInterrupted(transform, options.signal, ' while running the models');
    const reader = await openLocalWarehouse(project, workdir, true);
    try {
      // A failed run may leave tables uncreated: they count as null, so the summary still shows why it failed.
      const count = async (target: Target) => ((await reader.relationKind(target)) ? reader.countRows(target) : null);
      const tables: Record<string, number | null> = {};
      for (const name of REPORTED_TABLES) tables[name] = await count({ database: project.database, schema: project.modelsDataset, name });
      tables.raw_events = await count(project.raw);
      const columns = CONVERSATION_COLUMNS.map((c) => `\`${c}\``).join(', ');
      const firstRows = tables[FINAL_TABLE] === null ? [] : (await reader.query(`SELECT ${columns} FROM \`${project.database}.${project.modelsDataset}.${FINAL_TABLE}\` ORDER BY order_id`, 5)).rows;
      const assertions = transform.actions.filter((a) => a.kind === 'assertion');
      return {
        input, uploaded, emulatorStarted: emulator.started, provision, publish, sink: landed, transform, tables,
        rejects: tables.rejected_events ?? 0,
        assertions: { passed: assertions.filter((a) => a.status === 'ok').length, failed: assertions.filter((a) => a.status !== 'ok').length },
        firstRows,
      };
    } finally {
      await reader.close();
    }
  } finally {
    if (emulator.started) {
      await stopEmulator(workdir);
      log('stopped the Pub/Sub emulator');
    }
  }
}
