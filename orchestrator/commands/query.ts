import type { CommandModule } from 'yargs';
import { UserError, errorMessage } from '../errors.js';
import { plainRow, textTable } from '../output/format.js';
import { openLocalWarehouse } from '../runner/local.js';
import { type CommonArgs, contextOf, print, printJson, withCommonOptions } from './common.js';

interface QueryArgs extends CommonArgs {
  sql: string;
  limit: number;
}

export const queryCommand: CommandModule<object, QueryArgs> = {
  command: 'query <sql>',
  describe: 'Run read-only SQL on the local warehouse (DuckDB dialect; `project.dataset.table` names work) and print a table',
  builder: (yargs) =>
    withCommonOptions(yargs)
      .positional('sql', { type: 'string', demandOption: true, describe: 'The query' })
      .option('limit', { type: 'number', default: 100, describe: 'Rows to print at most' }),
  handler: async (args) => {
    const context = contextOf(args);
    const warehouse = await openLocalWarehouse(context.project, context.workdir, true);
    try {
      const result = await warehouse.query(args.sql, args.limit).catch((error: unknown) => {
        throw new UserError(`query failed: ${errorMessage(error)}`);
      });
      if (context.json) printJson(result.rows.map(plainRow));
      else print(`${textTable(result.columns, result.rows)}\n(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})`);
    } finally {
      await warehouse.close();
    }
  },
};
