import type { CommandModule } from 'yargs';
import { Progress } from '../output/progress.js';
import { sink, withEmulator } from '../pipeline/local.js';
import { openLocalWarehouse } from '../runner/local.js';
import { type CommonArgs, contextOf, log, print, printJson, withCommonOptions } from './common.js';

interface SinkArgs extends CommonArgs {
  'until-idle': boolean;
  'idle-seconds': number;
}

export const sinkCommand: CommandModule<object, SinkArgs> = {
  command: 'sink',
  describe: 'Land messages from the raw subscription in the raw table, as the BigQuery subscription does (local stand-in)',
  builder: (yargs) =>
    withCommonOptions(yargs)
      .option('until-idle', { type: 'boolean', default: false, describe: 'Return once the subscription has been empty for --idle-seconds' })
      .option('idle-seconds', { type: 'number', default: 5, describe: 'Seconds of emptiness that count as idle' }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    const controller = new AbortController();
    process.once('SIGINT', () => { log('draining: committing the batch in hand, then exiting'); controller.abort(); });
    process.once('SIGTERM', () => controller.abort());
    const progress = new Progress('landing');
    const warehouse = await openLocalWarehouse(project, workdir);
    try {
      const summary = await withEmulator(project, workdir, (clients) =>
        sink(project, clients, warehouse, {
          idleSeconds: args['until-idle'] ? args['idle-seconds'] : undefined,
          signal: controller.signal,
          onBatch: ({ rows }) => progress.update(rows, 'rows'),
        }),
      );
      progress.done();
      if (json) printJson(summary);
      else print(`landed ${summary.rows} messages in ${project.raw.schema}.${project.raw.name} in ${summary.batches} batches, ${summary.seconds.toFixed(2)}s`);
    } finally {
      await warehouse.close();
    }
  },
};
