import type { CommandModule } from 'yargs';
import { checkGraph } from '../bigquery/check.js';
import { DEFAULT_BLOCK_BYTES, MIN_BILLED_BYTES_PER_TABLE, billedBytes } from '../bigquery/cost.js';
import { estimateNextRun, type RunEstimate } from '../bigquery/estimate.js';
import { ZetaSqlServer } from '../bigquery/zetasql.js';
import { compileProject } from '../dataform/compile.js';
import { UserError } from '../errors.js';
import { targetKey } from '../identifiers.js';
import { shortName, textTable } from '../output/format.js';
import { type CommonArgs, type Context, contextOf, log, parseVars, positiveNumber, print, printJson, withCommonOptions, withVarsOption } from './common.js';

interface CheckArgs extends CommonArgs {
  vars?: string[];
  cost: boolean;
  'block-mb': number;
  'full-refresh': boolean;
}

const MB = 1024 * 1024;
const mb = (bytes: number) => (bytes / MB).toFixed(2);

export const checkCommand: CommandModule<object, CheckArgs> = {
  command: 'check',
  describe: "Analyse every BigQuery statement a 'dataform run' would execute with ZetaSQL (BigQuery's SQL front end), offline; with --cost, estimate the bytes the next run would scan and bill",
  builder: (yargs) =>
    withVarsOption(withCommonOptions(yargs))
      .option('cost', {
        type: 'boolean', default: false,
        describe: "Estimate the BigQuery bytes each statement of the next run reads and bills: the run is replayed on a copy of the local warehouse (--workdir), which is left unchanged",
      })
      .option('block-mb', { type: 'number', coerce: positiveNumber('block-mb'), default: DEFAULT_BLOCK_BYTES / MB, describe: 'With --cost: the assumed size of a clustered block, in MB (BigQuery does not document it)' })
      .option('full-refresh', { type: 'boolean', default: false, describe: 'With --cost: estimate a --full-refresh run' }),
  handler: async (args) => {
    const context = contextOf(args);
    if (args.cost) {
      await costHandler(args, context);
      return;
    }
    if (args['full-refresh']) throw new UserError('--full-refresh applies to --cost only: check analyses every path of a run');
    const { project, json } = context;
    const graph = await compileProject(project.projectDir, { ...parseVars(args.vars), engine: 'bigquery' });
    const server = await ZetaSqlServer.start();
    let results;
    try {
      results = await checkGraph(server, graph, { key: targetKey(project.raw) });
    } finally {
      server.stop();
    }
    const statements = results.reduce((n, r) => n + r.statements.length, 0);
    const failed = results.filter((r) => !r.ok);
    if (json) {
      printJson({ ok: failed.length === 0, actions: results.length, statements, results });
    } else {
      for (const result of results) {
        if (result.ok) {
          print(`ok     ${shortName(result.name)} (${result.statements.length} statements)`);
          continue;
        }
        for (const s of result.statements.filter((st) => !st.ok)) {
          const where = s.position ? ` [at ${s.position} of the statement]` : '';
          print(`${result.skipped ? 'skip ' : 'error'}  ${shortName(result.name)} ${result.file}: ${s.purpose}: ${s.message}${where}`);
        }
      }
      log(`${results.length} actions, ${statements} statements analysed with ZetaSQL: ${failed.length ? `${failed.length} with errors` : 'no errors'}`);
    }
    if (failed.length) process.exitCode = 1;
  },
};

const isMetadata = (table: string) => /\.INFORMATION_SCHEMA\./i.test(table);

/** The text table's rows: one per table a statement reads (a statement reading none has one row). */
function costRows(estimate: RunEstimate): Record<string, string>[] {
  return estimate.statements.flatMap((s) => {
    const first = { action: shortName(s.action), purpose: s.purpose };
    if (s.error) return [{ ...first, table: `not estimated: ${s.error}`, partitions: '', blocks: '', 'MB read': '', 'MB DML': '', 'MB billed': '' }];
    if (s.scans.length === 0) return [{ ...first, table: '', partitions: '', blocks: '', 'MB read': mb(0), 'MB DML': '', 'MB billed': mb(s.billedBytes) }];
    return s.scans.map((c, i) => ({
      ...(i === 0 ? first : { action: '', purpose: '' }),
      table: isMetadata(c.table) ? c.table.split('.').slice(-3).join('.') : c.table.split('.').slice(-1)[0],
      partitions: isMetadata(c.table) ? 'metadata' : `${c.partitions.kept}/${c.partitions.total}`,
      blocks: isMetadata(c.table) ? '' : `${c.blocks.kept}/${c.blocks.total}`,
      'MB read': mb(c.bytes),
      'MB DML': c.dmlBytes ? mb(c.dmlBytes) : '',
      'MB billed': mb(billedBytes([c])),
    }));
  });
}

async function costHandler(args: CheckArgs, { project, workdir, json }: Context): Promise<void> {
  const blockBytes = Math.round(args['block-mb'] * MB);
  const vars = parseVars(args.vars);
  const server = await ZetaSqlServer.start();
  let estimate: RunEstimate;
  try {
    estimate = await estimateNextRun(server, project, workdir, { fullRefresh: args['full-refresh'], blockBytes, vars });
  } finally {
    server.stop();
  }
  const errors = estimate.statements.filter((s) => s.error);
  // An action that failed locally stops the replay of what depends on it: those statements are not estimated.
  const failedActions = estimate.run.actions.filter((a) => a.status === 'failed' && a.kind !== 'assertion');
  const complete = errors.length === 0 && failedActions.length === 0;
  const assumptions = {
    blockBytes,
    minBilledBytesPerTable: MIN_BILLED_BYTES_PER_TABLE,
    note: 'logical bytes of the columns read from the partitions and clustered blocks the constant conditions keep; a MERGE that updates also bills every byte of the partitions it may update; each table referenced is billed at least 10 MB',
  };
  if (json) {
    printJson({
      ok: complete,
      fullRefresh: args['full-refresh'],
      assumptions,
      statements: estimate.statements,
      bytes: estimate.bytes,
      billedBytes: estimate.billedBytes,
      run: {
        ok: estimate.run.ok,
        actions: estimate.run.actions.map((a) => ({ name: a.name, kind: a.kind, status: a.status, mode: a.mode, ...(a.error ? { error: a.error } : {}) })),
      },
    });
  } else {
    print(textTable(['action', 'purpose', 'table', 'partitions', 'blocks', 'MB read', 'MB DML', 'MB billed'], costRows(estimate)));
    const read = estimate.statements.reduce((sum, s) => sum + s.scans.reduce((t, c) => t + c.bytes, 0), 0);
    print(`total: ${estimate.statements.length} statements, ${mb(read)} MB read, ${mb(estimate.bytes - read)} MB of partitions a MERGE may update, ${mb(estimate.billedBytes)} MB billed`);
    log(`estimated on a copy of ${workdir.warehouseFile} (left unchanged); blocks of ${args['block-mb']} MB, at least ${MIN_BILLED_BYTES_PER_TABLE / MB} MB billed per table referenced`);
  }
  for (const action of failedActions) log(`the local replay of ${shortName(action.name)} failed: ${action.error ?? 'unknown error'}; statements after it are not estimated`);
  if (errors.length) log(`${errors.length} statement(s) could not be estimated (first: ${shortName(errors[0].action)} ${errors[0].purpose}: ${errors[0].error})`);
  if (!complete) process.exitCode = 1;
}
