import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';
import { type Target, validateIdentifier } from '../identifiers.js';
import { CONVERSATION_COLUMNS, FINAL_TABLE } from '../contract.js';
import { csvLine, ndjsonLine } from '../output/format.js';
import { openLocalWarehouse } from '../runner/local.js';
import { type CommonArgs, contextOf, log, withCommonOptions } from './common.js';

interface ExportArgs extends CommonArgs {
  table: string;
  format: 'ndjson' | 'csv';
  output?: string;
}

function resolveTable(name: string, database: string, defaultDataset: string): Target {
  const parts = name.split('.');
  if (parts.length > 2) throw new UserError(`table must be NAME or DATASET.NAME, got ${name}`);
  const [schema, table] = parts.length === 2 ? parts : [defaultDataset, parts[0]!];
  return { database, schema: validateIdentifier('dataset', schema!, 'the table argument'), name: validateIdentifier('table', table!, 'the table argument') };
}

async function write(out: Writable, text: string): Promise<void> {
  if (!out.write(text)) await once(out, 'drain');
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export <table>',
  describe: 'Write a table of the local warehouse as NDJSON or CSV (customer_courier_conversations in SPEC format)',
  builder: (yargs) =>
    withCommonOptions(yargs)
      .positional('table', { type: 'string', demandOption: true, describe: 'NAME (in the models dataset) or DATASET.NAME' })
      .option('format', { choices: ['ndjson', 'csv'] as const, default: 'ndjson' as const, describe: 'Output format' })
      .option('output', { alias: 'o', type: 'string', describe: 'File to write (default: stdout)' }),
  handler: async (args) => {
    const context = contextOf(args);
    const target = resolveTable(args.table, context.project.database, context.project.modelsDataset);
    const warehouse = await openLocalWarehouse(context.project, context.workdir, true);
    try {
      if (!(await warehouse.relationKind(target))) throw new UserError(`no table ${target.schema}.${target.name} in the local warehouse: run 'orchestrator transform' first`);
      const available = await warehouse.columnNames(target);
      const isFinalTable = target.name === FINAL_TABLE && target.schema === context.project.modelsDataset;
      const columns = isFinalTable ? CONVERSATION_COLUMNS : available;
      const orderBy = available.includes('order_id') ? 'order_id' : available[0]!;
      const list = columns.map((c) => `\`${c}\``).join(', ');
      const { rows } = await warehouse.query(
        `SELECT ${list} FROM \`${target.database}.${target.schema}.${target.name}\` ORDER BY "${orderBy}"`,
      );
      const out: Writable = args.output ? createWriteStream(args.output) : process.stdout;
      if (args.format === 'csv') await write(out, `${columns.join(',')}\n`);
      for (const row of rows) {
        await write(out, `${args.format === 'csv' ? csvLine(columns.map((c) => row[c] ?? null)) : ndjsonLine(row, columns)}\n`);
      }
      if (args.output) {
        out.end();
        await once(out, 'finish');
        log(`wrote ${rows.length} rows of ${target.schema}.${target.name} to ${args.output}`);
      }
    } finally {
      await warehouse.close();
    }
  },
};
