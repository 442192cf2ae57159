import { existsSync } from 'node:fs';
import type { CommandModule } from 'yargs';
import type { ProjectConfig, Workdir } from '../config.js';
import { UserError, errorMessage } from '../errors.js';
import { FINAL_TABLE } from '../contract.js';
import { textValue } from '../output/format.js';
import { textTree } from '../output/numbers.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { gcpStatus } from '../gcp/status.js';
import { renderGcpStatus } from '../gcp/statusText.js';
import { status as emulatorStatus } from '../pubsub/emulator.js';
import { readLastRun } from '../runner/local.js';
import { openLocalWarehouse } from '../warehouse/local.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { workdirHolder } from '../workdir/lock.js';
import { type CommonArgs, type TargetArgs, contextOf, positiveNumber, print, printJson, withCommonOptions, withTargetOptions } from './common.js';

type Status = Record<string, unknown>;

/**
 * Row counts of the local warehouse; 'none yet' only when there is no warehouse file. DuckDB lets one
 * process write the file and no other read it meanwhile: then it says which process holds it.
 */
async function warehouseStatus(project: ProjectConfig, workdir: Workdir): Promise<Status | string> {
  if (!existsSync(workdir.warehouseFile)) return 'none yet';
  let warehouse: Warehouse;
  try {
    warehouse = await openLocalWarehouse(project, workdir, true);
  } catch (error) {
    const pid = /PID (\d+)/.exec(errorMessage(error))?.[1];
    if (!pid) throw error;
    const holder = readable(() => workdirHolder(workdir)).value;
    return `in use by PID ${pid}${holder?.pid === Number(pid) ? ` (orchestrator ${holder.command})` : ''}: counts unavailable until it finishes`;
  }
  const counts: Status = {};
  try {
    if (await warehouse.relationKind(project.raw)) {
      const { rows } = await warehouse.query(`SELECT COUNT(*) AS n, MAX(publish_time) AS latest FROM \`${project.raw.database}.${project.raw.schema}.${project.raw.name}\``);
      counts.rawRows = Number(rows[0]?.n ?? 0);
      counts.latestPublishTime = rows[0]?.latest ? textValue(rows[0].latest) : null;
    }
    for (const name of ['stg_events', 'rejected_events', FINAL_TABLE]) {
      const target = { database: project.database, schema: project.modelsDataset, name };
      if (await warehouse.relationKind(target)) counts[name] = await warehouse.countRows(target);
    }
  } finally {
    await warehouse.close();
  }
  return counts;
}

/** A state file's content, or why it cannot be read (status reports the rest either way). */
function readable<T>(read: () => T): { value?: T; problem?: string } {
  try {
    return { value: read() };
  } catch (error) {
    return { problem: errorMessage(error) };
  }
}

export const statusCommand: CommandModule<object, CommonArgs & TargetArgs & { 'max-lag-minutes'?: number }> = {
  command: 'status',
  describe: 'Show the state of the pipeline: emulator or subscriptions, raw rows and latest publish time, the last run of the models; '
    + 'with --target gcp: freshness, backlog, dead letters and the last scheduled Dataform runs. Exit 1 when the lock or last-run record is unreadable (the rest is still shown)',
  builder: (yargs) => withTargetOptions(withCommonOptions(yargs))
    .option('max-lag-minutes', {
      type: 'number', coerce: positiveNumber('max-lag-minutes'),
      describe: `--target gcp: exit 1 when ${FINAL_TABLE} is more than this behind the raw table (for a cron job or an uptime check)`,
    }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    if (args.target === 'gcp') {
      const report = await gcpStatus(project, resolveGcpSettings(project, args), { maxLagMinutes: args['max-lag-minutes'] });
      // A lag over the limit, a broken subscription or a location mismatch fails the command, for cron jobs and uptime checks.
      if (report.problems.length) process.exitCode = 1;
      if (json) printJson(report.status);
      else print(renderGcpStatus(report.status));
      return;
    }
    if (args['max-lag-minutes'] !== undefined) throw new UserError('--max-lag-minutes needs --target gcp');
    const emulator = await emulatorStatus(workdir);
    // A lock file this tool did not write holds the work directory as far as transform is concerned: said as transform says it.
    const holder = readable(() => workdirHolder(workdir));
    const lastRun = readable(() => readLastRun(workdir));
    const result: Status = {
      workdir: workdir.dir,
      inUseBy: holder.problem ? `unknown: ${holder.problem}`
        : holder.value ? `PID ${holder.value.pid} (orchestrator ${holder.value.command}, since ${holder.value.since})` : 'nobody',
      emulator: emulator.running && emulator.state ? `running, pid ${emulator.state.pid} on ${emulator.state.host}:${emulator.state.port}` : 'not running',
      warehouse: await warehouseStatus(project, workdir),
      lastModelRun: lastRun.problem ?? lastRun.value ?? 'never',
    };
    // A damaged state file is a problem to fix (status --target gcp exits 1 on its problems too).
    if (holder.problem || lastRun.problem) process.exitCode = 1;
    if (json) printJson(result);
    else print(textTree(result));
  },
};
