import type { CommandModule } from 'yargs';
import { CONVERSATION_COLUMNS } from '../contract.js';
import { plainRow, textTable } from '../output/format.js';
import { Progress } from '../output/progress.js';
import { UserError } from '../errors.js';
import { runUp, type UpSummary } from '../pipeline/up.js';
import { withWorkdirLock } from '../workdir/lock.js';
import { type CommonArgs, contextOf, log, print, printJson, shortName, withCommonOptions } from './common.js';
import { describePublish, failIfUnpublished } from './ingest.js';
import { recycled } from './sink.js';
import { renderSummary, summaryJson } from './transform.js';

interface UpArgs extends CommonArgs {
  input?: string;
}

function render(summary: UpSummary): string {
  const lines = [
    describePublish(summary.publish),
    `landed ${summary.sink.rows} messages in the raw table in ${summary.sink.seconds.toFixed(2)}s${recycled(summary.sink)}`,
    summary.transform.ok
      ? `transform: ${summary.transform.actions.length} actions ok in ${summary.transform.seconds.toFixed(2)}s (compile ${summary.transform.compileSeconds.toFixed(2)}s)`
      : renderSummary(summary.transform),
    '',
    `events in: ${summary.publish.published}   distinct events: ${summary.tables.stg_events ?? '-'}   rejects: ${summary.rejects}   ` +
      `assertions: ${summary.assertions.passed} passed, ${summary.assertions.failed} failed`,
    textTable(['table', 'rows'], Object.entries(summary.tables).map(([table, rows]) => ({ table, rows: rows === null ? 'not created' : String(rows) }))),
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
    const controller = new AbortController();
    process.once('SIGINT', () => { log('interrupted: stopping after the work in hand'); controller.abort(); });
    const publishing = new Progress('publishing');
    const summary = await withWorkdirLock(workdir, 'up', () => runUp({
      project, workdir, input: args.input, log, signal: controller.signal,
      onPublishProgress: (published, bytesRead) => publishing.update(published, 'events', bytesRead),
      onActionDone: (result) => log(`${result.status.padEnd(7)} ${shortName(result.name)}`),
    }));
    publishing.done();
    // Imported when needed: the charting libraries would slow every command's start.
    const report = summary.transform.ok ? (await (await import('../report/report.js')).writeLocalReport(project, workdir)).file : null;
    if (json) printJson({ ...summary, transform: summaryJson(summary.transform), firstRows: summary.firstRows.map(plainRow), report });
    else print(`${render(summary)}${report ? `\n\nreport: ${report}` : ''}`);
    failIfUnpublished(summary.publish);
    // The first failure in run order is the cause; what it skipped only follows from it.
    const failed = summary.transform.actions.find((a) => a.status === 'failed');
    if (failed) throw new UserError(`the models failed: ${shortName(failed.name)}: ${(failed.error ?? '').split('\n')[0]}`);
  },
};
