import type { CommandModule } from 'yargs';
import { loadRecordsToRaw } from '../events/load.js';
import { localSourceName, openSourceFile } from '../events/reader.js';
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
    const warehouse = await openLocalWarehouse(context.project, context.workdir);
    try {
      const summary = await loadRecordsToRaw(warehouse, context.project.raw, stream, localSourceName(args.file), (n) => {
        if (process.stderr.isTTY) process.stderr.write(`\rloaded ${n} records`);
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      if (context.json) printJson({ file: args.file, ...summary });
      else {
        print(`loaded ${summary.records} records (${summary.notJson} not JSON, ${summary.tooLarge} too large: kept for staging to reject) ` +
          `from ${args.file} into ${context.project.raw.schema}.${context.project.raw.name} in ${summary.seconds.toFixed(2)}s`);
      }
      if (summary.notJson + summary.tooLarge > 0) {
        log(`${summary.notJson + summary.tooLarge} record(s) are not JSON or too large: 'orchestrator transform' files them in rejected_events`);
      }
    } finally {
      await warehouse.close();
    }
  },
};
