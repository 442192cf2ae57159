import type { CommandModule } from 'yargs';
import { FINAL_TABLE } from '../contract.js';
import { textValue } from '../output/format.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { gcpStatus } from '../gcp/status.js';
import { status as emulatorStatus } from '../pubsub/emulator.js';
import { openLocalWarehouse, readLastRun } from '../runner/local.js';
import { type CommonArgs, type TargetArgs, contextOf, print, printJson, withCommonOptions, withTargetOptions } from './common.js';

type Status = Record<string, unknown>;

function render(value: Status, indent = ''): string {
  return Object.entries(value)
    .map(([key, v]) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? `${indent}${key}:\n${render(v as Status, `${indent}  `)}` : `${indent}${key}: ${Array.isArray(v) ? v.join(', ') || '-' : String(v)}`))
    .join('\n');
}

export const statusCommand: CommandModule<object, CommonArgs & TargetArgs> = {
  command: 'status',
  describe: 'Show the state of the pipeline: emulator or subscriptions, raw rows and latest publish time, the last run of the models',
  builder: (yargs) => withTargetOptions(withCommonOptions(yargs)),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    let result: Status;
    if (args.target === 'gcp') {
      const report = await gcpStatus(project, resolveGcpSettings(project, args));
      result = report.status;
      // A broken subscription or a location mismatch fails the command, for cron jobs and uptime checks.
      if (report.problems.length) process.exitCode = 1;
    } else {
      const emulator = await emulatorStatus(workdir);
      const warehouseStatus: Status = {};
      const warehouse = await openLocalWarehouse(project, workdir, true).catch(() => undefined);
      if (warehouse) {
        try {
          const exists = await warehouse.relationKind(project.raw);
          if (exists) {
            const { rows } = await warehouse.query(`SELECT COUNT(*) AS n, MAX(publish_time) AS latest FROM \`${project.raw.database}.${project.raw.schema}.${project.raw.name}\``);
            warehouseStatus.rawRows = Number(rows[0]?.n ?? 0);
            warehouseStatus.latestPublishTime = rows[0]?.latest ? textValue(rows[0].latest) : null;
          }
          for (const name of ['stg_events', 'rejected_events', FINAL_TABLE]) {
            const target = { database: project.database, schema: project.modelsDataset, name };
            if (await warehouse.relationKind(target)) warehouseStatus[name] = await warehouse.countRows(target);
          }
        } finally {
          await warehouse.close();
        }
      }
      result = {
        workdir: workdir.dir,
        emulator: emulator.running && emulator.state ? `running, pid ${emulator.state.pid} on ${emulator.state.host}:${emulator.state.port}` : 'not running',
        warehouse: warehouse ? warehouseStatus : 'none yet',
        lastModelRun: (readLastRun(workdir) as Status | undefined) ?? 'never',
      };
    }
    if (json) printJson(result);
    else print(render(result));
  },
};
