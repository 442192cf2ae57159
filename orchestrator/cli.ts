import { createRequire } from 'node:module';
import type { Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, errorMessage } from './errors.js';
import { checkCommand } from './commands/check.js';
import { deadLettersCommand } from './commands/deadLetters.js';
import { emulatorCommand } from './commands/emulator.js';
import { exportCommand } from './commands/export.js';
import { generateCommand } from './commands/generate.js';
import { ingestCommand } from './commands/ingest.js';
import { loadCommand } from './commands/load.js';
import { provisionCommand } from './commands/provision.js';
import { queryCommand } from './commands/query.js';
import { reportCommand } from './commands/report.js';
import { scheduleCommand } from './commands/schedule.js';
import { sinkCommand } from './commands/sink.js';
import { statusCommand } from './commands/status.js';
import { testCommand } from './commands/test.js';
import { assertCommand, transformCommand } from './commands/transform.js';
import { upCommand } from './commands/up.js';
import { uploadCommand } from './commands/upload.js';
import { terminalSafe } from './output/format.js';

/** A full disk is the user's to fix: Node's own message ('ENOSPC: …, write') names neither the cause nor the cure. */
function describe(error: unknown): string {
  const text = errorMessage(error);
  if ((error as NodeJS.ErrnoException | undefined)?.code === 'ENOSPC' || /No space left on device/.test(text)) {
    return `the disk is full: free some space and run the command again, which completes what this one did not commit (${text.split('\n')[0]})`;
  }
  return text;
}

function fail(error: unknown): never {
  // Messages can quote data (a DuckDB error quotes the value it choked on): no control characters reach the terminal.
  const message = describe(error).split('\n').map(terminalSafe).join('\n');
  process.stderr.write(`orchestrator: ${message}\n`);
  if (!(error instanceof UserError) && process.env.ORCHESTRATOR_DEBUG && error instanceof Error) {
    process.stderr.write(`${error.stack}\n`);
  }
  process.exit(error instanceof UserError ? error.exitCode : 1);
}

process.env.METADATA_SERVER_DETECTION ??= 'none';

// yargs' CommonJS build, on purpose: its ES module build lays help out with a wrap that cuts words
// at the column limit (yargs/yargs#2112, fixed in yargs 18 only); the CommonJS one wraps at spaces.
const yargs = createRequire(import.meta.url)('yargs/yargs') as (args: string[]) => Argv;

/** Help as wide as the terminal (capped for reading); piped, $COLUMNS if set, else 80. */
function helpWidth(): number {
  const columns = process.stdout.isTTY ? process.stdout.columns : Number(process.env.COLUMNS);
  return Number.isInteger(columns) && columns > 0 ? Math.min(columns, 120) : 80;
}

// A reader that stops early (`| head`) closes the pipe: like any Unix filter, the command then ends
// quietly with success instead of an EPIPE stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  fail(error);
});

try {
  await yargs(hideBin(process.argv))
    .scriptName('orchestrator')
    .usage('$0 <command> [options]\n\nRuns the chat-events ELT pipeline locally: Pub/Sub emulator, DuckDB warehouse, Dataform models.')
    .command(upCommand)
    .command(generateCommand)
    .command(emulatorCommand)
    .command(provisionCommand)
    .command(uploadCommand)
    .command(ingestCommand)
    .command(sinkCommand)
    .command(loadCommand)
    .command(transformCommand)
    .command(assertCommand)
    .command(testCommand)
    .command(exportCommand)
    .command(queryCommand)
    .command(statusCommand)
    .command(deadLettersCommand)
    .command(checkCommand)
    .command(reportCommand)
    .command(scheduleCommand)
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    // Usage errors (unknown flags, and the coerce checks of flag values) are YErrors: exit 2.
    .fail((message, error: Error | undefined) => fail(error && error.name !== 'YError' ? error : new UserError(`${message} (see --help)`, 2)))
    .help()
    .version(false)
    .wrap(helpWidth())
    .parseAsync();
} catch (error) {
  fail(error);
}
