import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { CommandModule } from 'yargs';
import { UserError, errorMessage } from '../errors.js';
import { type Target, validateIdentifier } from '../identifiers.js';
import { CONVERSATION_COLUMNS, FINAL_TABLE } from '../contract.js';
import { csvLine, ndjsonLine } from '../output/format.js';
import { openSandboxedWarehouse } from '../warehouse/local.js';
import type { Row } from '../warehouse/warehouse.js';
import { formatCount } from '../output/numbers.js';
import { type CommonArgs, contextOf, log, printJson, withCommonOptions } from './common.js';

interface ExportArgs extends CommonArgs {
  table: string;
  format: 'ndjson' | 'csv';
  output?: string;
}

function resolveTable(name: string, database: string, defaultDataset: string): Target {
  const parts = name.split('.');
  if (parts.length > 2) throw new UserError(`table must be NAME or DATASET.NAME, got ${name}`);
  const [schema, table] = parts.length === 2 ? parts : [defaultDataset, parts[0]];
  return { database, schema: validateIdentifier('dataset', schema, 'the table argument'), name: validateIdentifier('table', table, 'the table argument') };
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <table>',
  describe: 'Write a table of the local warehouse as NDJSON or CSV (customer_courier_conversations in SPEC format), streamed. '
    + 'With --output, --json prints a summary (table, format, output, rows) on stdout',
  builder: (yargs) =>
    withCommonOptions(yargs)
      .positional('table', { type: 'string', demandOption: true, describe: 'NAME (in the models dataset) or DATASET.NAME' })
      .option('format', { choices: ['ndjson', 'csv'] as const, default: 'ndjson' as const, describe: 'Output format' })
      .option('output', { alias: 'o', type: 'string', describe: 'File to write (default: stdout); written whole or not at all' }),
  handler: async (args) => {
    // Without --output the rows are stdout: a summary there would corrupt them.
    if (args.json && !args.output) {
      throw new UserError('--json prints the summary on stdout, where the rows go without --output: give --output FILE (the rows are JSON lines already with --format ndjson, the default)', 2);
    }
    const context = contextOf(args);
    const target = resolveTable(args.table, context.project.database, context.project.modelsDataset);
    const warehouse = await openSandboxedWarehouse(context.project, context.workdir);
    try {
      if (!(await warehouse.relationKind(target))) {
        // A name given without its dataset may be one of the other datasets' (raw_events is chat_raw's).
        const elsewhere: Target[] = [];
        if (!args.table.includes('.')) {
          for (const schema of new Set([context.project.raw.schema, context.project.assertionsDataset])) {
            const candidate = { ...target, schema };
            if (await warehouse.relationKind(candidate)) elsewhere.push(candidate);
          }
        }
        const hint = elsewhere.length ? `did you mean ${elsewhere.map((t) => `${t.schema}.${t.name}`).join(' or ')}?` : `run 'orchestrator transform' first`;
        throw new UserError(`no table ${target.schema}.${target.name} in the local warehouse: ${hint}`);
      }
      const available = await warehouse.columnNames(target);
      const isFinalTable = target.name === FINAL_TABLE && target.schema === context.project.modelsDataset;
      const columns = isFinalTable ? CONVERSATION_COLUMNS : available;
      // By order_id, then every column: the same table always exports the same bytes (stg_events has many rows per order).
      const orderBy = [...new Set([...(available.includes('order_id') ? ['order_id'] : []), ...available])];
      const quote = (c: string) => `\`${c}\``;
      const sql = `SELECT ${columns.map(quote).join(', ')} FROM ${quote(`${target.database}.${target.schema}.${target.name}`)} ORDER BY ${orderBy.map(quote).join(', ')}`;
      const line = (row: Row) => (args.format === 'csv' ? csvLine(columns.map((c) => row[c] ?? null)) : ndjsonLine(row, columns));
      let count = 0;
      // One chunk of rows in memory at a time, written as the output drains (DuckDB spills the sort).
      async function* text() {
        if (args.format === 'csv') yield `${columns.join(',')}\n`;
        for await (const rows of warehouse.streamRows(sql)) {
          count += rows.length;
          yield `${rows.map(line).join('\n')}\n`;
        }
      }
      if (!args.output) {
        await pipeline(text, process.stdout, { end: false });
        return;
      }
      // Written beside the output and renamed when complete: a failed export leaves no partial file.
      const partial = `${args.output}.partial-${process.pid}`;
      try {
        // Opened before the query starts: a file that cannot be written stops the export before any read.
        const file = createWriteStream(partial);
        await new Promise((resolve, reject) => { file.once('open', resolve); file.once('error', reject); });
        await pipeline(text, file);
        renameSync(partial, args.output);
      } catch (error) {
        rmSync(partial, { force: true });
        if ((error as NodeJS.ErrnoException).syscall) throw new UserError(`cannot write ${args.output}: ${errorMessage(error).replace(/, \w+ '.*'$/, '')}`);
        throw error;
      }
      if (context.json) printJson({ table: `${target.schema}.${target.name}`, format: args.format, output: args.output, rows: count });
      else log(`wrote ${formatCount(count)} rows of ${target.schema}.${target.name} to ${args.output}`);
    } finally {
      await warehouse.close();
    }
  },
};
