import type { CommandModule } from 'yargs';
import { CONVERSATION_COLUMNS } from '../contract.js';
import { plainRow, shortName, textTable } from '../output/format.js';
import { formatCount, formatSeconds } from '../output/numbers.js';
import { Progress } from '../output/progress.js';
import { actionLine, renderRunSummary, runSummaryJson, runTotals } from '../output/runSummary.js';
import { UserError } from '../errors.js';
import { runUp, type UpSummary } from '../pipeline/up.js';
import { withWorkdirLock } from '../workdir/lock.js';
import { type CommonArgs, abortOnInterrupt, contextOf, log, print, printJson, withCommonOptions } from './common.js';
import { describePublish, failIfUnpublished } from './ingest.js';
import { recycled } from './sink.js';

interface UpArgs extends CommonArgs {
  input?: string;
}

const TABLE_NOTES: Record<string, string> = {
  stg_events: 'distinct events',
  rejected_events: 'rejects, with their reason',
  raw_events: 'every delivery, duplicates included',
};

/** This run's steps, then the warehouse in total after it (the tables hold every earlier run too). */
function render(summary: UpSummary): string {
  const { publish, sink, transform, assertions } = summary;
  const lines = [
    'this run:',
    `  ${describePublish(publish)}`,
    `  landed ${formatCount(sink.rows)} messages in the raw table in ${formatSeconds(sink.seconds)}${recycled(sink)}`,
    `  models: ${runTotals(transform)}`,
    `  assertions: ${formatCount(assertions.passed)} passed, ${formatCount(assertions.failed)} failed`,
    ...(transform.ok ? [] : ['', renderRunSummary(transform)]),
    '',
    'in total, after this run:',
    textTable(['table', 'rows'], Object.entries(summary.tables).map(([table, rows]) => ({
      table: TABLE_NOTES[table] ? `${table} (${TABLE_NOTES[table]})` : table,
      rows: rows === null ? 'not created' : formatCount(rows),
    }))),
    '',
    'first rows of customer_courier_conversations:',
    textTable(CONVERSATION_COLUMNS, summary.firstRows),
  ];
  return lines.join('\n');
}

export const upCommand: CommandModule<object, UpArgs> = {
  command: 'up',
  describe: 'Run the whole local flow: emulator, provision, upload, ingest + sink, transform, assertions, summary',
  builder: (yargs) =>
    withCommonOptions(yargs).option('input', { type: 'string', describe: 'Source file (default: a generated sample of 400 conversations)' }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    const signal = abortOnInterrupt('interrupted: stopping after the work in hand');
    let publishing: Progress | undefined;
    const summary = await withWorkdirLock(workdir, 'up', () => runUp({
      project, workdir, input: args.input, log, signal,
      onPublishProgress: (published, bytesRead, totalBytes) => {
        publishing ??= new Progress('publishing', { totalBytes });
        publishing.update(published, 'records', bytesRead);
      },
      onActionDone: (result) => log(actionLine(result)),
    }));
    publishing?.done();
    // Imported when needed: the charting libraries would slow every command's start.
    const report = summary.transform.ok ? (await (await import('../report/report.js')).writeLocalReport(project, workdir)).file : null;
    // Named for what they count: the warehouse's rows in total, beside this run's publish, sink and transform.
    const { tables, rejects, ...thisRun } = summary;
    if (json) printJson({ ...thisRun, transform: runSummaryJson(summary.transform), rowsInTotal: tables, rejectsInTotal: rejects, firstRows: summary.firstRows.map(plainRow), report });
    else print(`${render(summary)}${report ? `\n\nreport: ${report}` : ''}`);
    failIfUnpublished(summary.publish);
    // The first failure in run order is the cause; what it skipped only follows from it.
    const failed = summary.transform.actions.find((a) => a.status === 'failed');
    if (failed) throw new UserError(`the models failed: ${shortName(failed.name)}: ${(failed.error ?? '').split('\n')[0]}`);
  },
};
