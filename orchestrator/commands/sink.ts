import type { CommandModule } from 'yargs';
import { Progress } from '../output/progress.js';
import { sinkFromEmulator, withEmulator } from '../pipeline/local.js';
import { openLocalWarehouse } from '../warehouse/local.js';
import { gcpClients } from '../gcp/clients.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { sinkToBigQuery } from '../gcp/sink.js';
import type { SinkSummary } from '../pubsub/sink.js';
import { withWorkdirLock } from '../workdir/lock.js';
import { type CommonArgs, type TargetArgs, contextOf, log, positiveNumber, print, printJson, withCommonOptions, withTargetOptions } from './common.js';

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
    const controller = new AbortController();
    process.once('SIGINT', () => { log('draining: committing the batch in hand, then exiting'); controller.abort(); });
    process.once('SIGTERM', () => controller.abort());
    const progress = new Progress('landing');
    const sinkOptions = {
      idleSeconds: args['until-idle'] ? args['idle-seconds'] : undefined,
      signal: controller.signal,
      onBatch: ({ rows }: { rows: number }) => progress.update(rows, 'rows'),
    };
    let summary: SinkSummary;
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
          return await withEmulator(project, workdir, (_clients, emulator) => sinkFromEmulator(project, workdir, emulator, warehouse, sinkOptions));
        } finally {
          await warehouse.close();
        }
      });
    }
    progress.done();
    if (json) printJson(summary);
    else print(`landed ${summary.rows} messages in ${project.raw.schema}.${project.raw.name} in ${summary.batches} batches, ${summary.seconds.toFixed(2)}s${recycled(summary)}` +
      (summary.rejected ? `; ${summary.rejected} deliveries refused by the table (nacked, see above)` : ''));
    // Refused rows are kept (on the dead-letter topic after their last attempt), and the exit code says so.
    if (summary.rejected) process.exitCode = 1;
  },
};
