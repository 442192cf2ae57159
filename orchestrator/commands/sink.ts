import type { CommandModule } from 'yargs';
import { formatCount, formatSeconds } from '../output/numbers.js';
import { Progress } from '../output/progress.js';
import { sinkFromEmulator, withEmulator } from '../pipeline/local.js';
import { openLocalWarehouse } from '../warehouse/local.js';
import { gcpClients } from '../gcp/clients.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { sinkToBigQuery } from '../gcp/sink.js';
import type { SinkSummary } from '../pubsub/sink.js';
import { withWorkdirLock } from '../workdir/lock.js';
import { type CommonArgs, type TargetArgs, abortOnInterrupt, contextOf, log, positiveNumber, print, printJson, withCommonOptions, withTargetOptions } from './common.js';

/** The emulator's subscription is recycled to free its memory; said so the numbers are not a surprise. */
export const recycled = ({ recycles }: SinkSummary) =>
  recycles ? ` (recycled the emulator's subscription ${recycles} time${recycles === 1 ? '' : 's'} to free its memory)` : '';

interface SinkArgs extends CommonArgs, TargetArgs {
  'until-idle': boolean;
  'idle-seconds': number;
}

export const sinkCommand: CommandModule<object, SinkArgs> = {
  command: 'sink',
  describe: 'Land messages from the raw subscription in the raw table: locally the stand-in for the BigQuery subscription; on Google Cloud through the BigQuery API',
  builder: (yargs) =>
    withTargetOptions(withCommonOptions(yargs))
      .option('until-idle', { type: 'boolean', default: false, describe: 'Return once the subscription has been empty for --idle-seconds' })
      .option('idle-seconds', { type: 'number', default: 5, coerce: positiveNumber('idle-seconds'), describe: 'Seconds of emptiness that count as idle' }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    const signal = abortOnInterrupt('draining: committing the batch in hand, then exiting', ['SIGINT', 'SIGTERM']);
    const progress = new Progress('landing');
    const sinkOptions = {
      idleSeconds: args['until-idle'] ? args['idle-seconds'] : undefined,
      signal,
      onBatch: ({ rows }: { rows: number }) => progress.update(rows, 'rows'),
    };
    let summary: SinkSummary & { rawRowsInTotal?: number };
    if (args.target === 'gcp') {
      const settings = resolveGcpSettings(project, args);
      const clients = gcpClients(settings);
      try {
        summary = await sinkToBigQuery(project, settings, clients, sinkOptions, log);
      } finally {
        await clients.close();
      }
    } else {
      summary = await withWorkdirLock(workdir, 'sink', async () => {
        const warehouse = await openLocalWarehouse(project, workdir);
        try {
          const landed = await withEmulator(project, workdir, (_clients, emulator) => sinkFromEmulator(project, workdir, emulator, warehouse, sinkOptions));
          return { ...landed, rawRowsInTotal: await warehouse.countRows(project.raw) };
        } finally {
          await warehouse.close();
        }
      });
    }
    progress.done();
    const raw = `${project.raw.schema}.${project.raw.name}`;
    if (json) printJson(summary);
    else {
      print(`this run: landed ${formatCount(summary.rows)} messages in ${raw} in ${formatCount(summary.batches)} batches, ${formatSeconds(summary.seconds)}${recycled(summary)}` +
        (summary.rejected ? `; ${formatCount(summary.rejected)} deliveries refused by the table (nacked, see above)` : ''));
      if (summary.rawRowsInTotal !== undefined) print(`in total: ${formatCount(summary.rawRowsInTotal)} rows in ${raw}`);
    }
    // Refused rows are kept (on the dead-letter topic after their last attempt), and the exit code says so.
    if (summary.rejected) process.exitCode = 1;
  },
};
