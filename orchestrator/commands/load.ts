import type { CommandModule } from 'yargs';
import { loadRecordsToRaw } from '../events/load.js';
import { localSourceName, openSourceFile } from '../events/reader.js';
import { formatCount, formatSeconds } from '../output/numbers.js';
import { Progress } from '../output/progress.js';
import { openLocalWarehouse } from '../warehouse/local.js';
import { type CommonArgs, contextOf, log, print, printJson, withCommonOptions } from './common.js';

interface LoadArgs extends CommonArgs {
  file: string;
}

export const loadCommand: CommandModule<object, LoadArgs> = {
  command: 'load <file>',
  describe: 'Append a source file to the local raw table as the BigQuery subscription would (no Pub/Sub)',
  builder: (yargs) =>
    withCommonOptions(yargs).positional('file', { type: 'string', demandOption: true, describe: 'NDJSON, JSON array or concatenated JSON objects' }),
  handler: async (args) => {
    const context = contextOf(args);
    const { stream } = await openSourceFile(args.file);
    const raw = context.project.raw;
    const warehouse = await openLocalWarehouse(context.project, context.workdir);
    try {
      const progress = new Progress('loading');
      const summary = await loadRecordsToRaw(warehouse, raw, stream, localSourceName(args.file), (n) => progress.update(n, 'records'));
      progress.done();
      const rawRowsInTotal = await warehouse.countRows(raw);
      if (context.json) printJson({ file: args.file, ...summary, rawRowsInTotal });
      else {
        const table = `${raw.schema}.${raw.name}`;
        print(`this run: loaded ${formatCount(summary.records)} records (${formatCount(summary.notJson)} not JSON, ${formatCount(summary.tooLarge)} too large: ` +
          `kept for staging to reject) from ${args.file} into ${table} in ${formatSeconds(summary.seconds)}`);
        print(`in total: ${formatCount(rawRowsInTotal)} rows in ${table}`);
      }
      if (summary.notJson + summary.tooLarge > 0) {
        log(`${summary.notJson + summary.tooLarge} record(s) are not JSON or too large: 'orchestrator transform' files them in rejected_events`);
      }
    } finally {
      await warehouse.close();
    }
  },
};
