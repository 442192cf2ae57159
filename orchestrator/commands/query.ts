import type { CommandModule } from 'yargs';
import { UserError, errorMessage } from '../errors.js';
import { plainRecord, textGrid, uniqueKeys } from '../output/format.js';
import { openSandboxedWarehouse } from '../warehouse/local.js';
import { formatCount } from '../output/numbers.js';
import { type CommonArgs, contextOf, log, print, printJson, wholeNumber, withCommonOptions } from './common.js';

interface QueryArgs extends CommonArgs {
  sql: string;
  limit: number;
}

export const queryCommand: CommandModule<object, QueryArgs> = {
  command: 'query <sql>',
  describe: 'Run one read-only SELECT on the local warehouse (DuckDB dialect; `dataset.table` names work) and print a table; no file, network or settings access. '
    + 'With --json: an array with an object per row; a column name that repeats (a join\'s order_id twice) is keyed order_id_2, order_id_3 after the first',
  builder: (yargs) =>
    withCommonOptions(yargs)
      .positional('sql', { type: 'string', demandOption: true, describe: 'One SELECT (or WITH, VALUES, FROM, SHOW, DESCRIBE) statement' })
      .option('limit', { type: 'number', default: 100, coerce: wholeNumber('limit', 0), describe: 'Rows to print at most' }),
  handler: async (args) => {
    const context = contextOf(args);
    const warehouse = await openSandboxedWarehouse(context.project, context.workdir);
    try {
      const result = await warehouse.queryUntrusted(args.sql, args.limit).catch((error: unknown) => {
        // DuckDB's first line says what is wrong; the rest repeats the SQL. A usage error keeps its exit code.
        throw new UserError(`query failed: ${errorMessage(error).split('\n')[0]}`, error instanceof UserError ? error.exitCode : 1);
      });
      const more = result.more ? ` shown; more with a higher --limit` : '';
      if (context.json) {
        const keys = uniqueKeys(result.columns);
        printJson(result.rows.map((row) => plainRecord(keys, row)));
        if (more) log(`${formatCount(result.rows.length)} rows${more}`);
      } else {
        print(`${textGrid(result.columns, result.rows)}\n(${formatCount(result.rows.length)} row${result.rows.length === 1 ? '' : 's'}${more})`);
      }
    } finally {
      await warehouse.close();
    }
  },
};
