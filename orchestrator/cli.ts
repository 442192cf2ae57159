import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { UserError, errorMessage } from './errors.js';
import { checkCommand } from './commands/check.js';
import { emulatorCommand } from './commands/emulator.js';
import { exportCommand } from './commands/export.js';
import { generateCommand } from './commands/generate.js';
import { ingestCommand } from './commands/ingest.js';
import { loadCommand } from './commands/load.js';
import { provisionCommand } from './commands/provision.js';
import { queryCommand } from './commands/query.js';
import { reportCommand } from './commands/report.js';
import { sinkCommand } from './commands/sink.js';
import { statusCommand } from './commands/status.js';
import { assertCommand, transformCommand } from './commands/transform.js';
import { upCommand } from './commands/up.js';
import { uploadCommand } from './commands/upload.js';

function fail(error: unknown): never {
  const message = errorMessage(error);
  process.stderr.write(`orchestrator: ${message}\n`);
  if (!(error instanceof UserError) && process.env.ORCHESTRATOR_DEBUG && error instanceof Error) {
    process.stderr.write(`${error.stack}\n`);
  }
  process.exit(error instanceof UserError ? error.exitCode : 1);
}

process.env.METADATA_SERVER_DETECTION ??= 'none';

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
    .command(exportCommand)
    .command(queryCommand)
    .command(statusCommand)
    .command(checkCommand)
    .command(reportCommand)
    .demandCommand(1, 'name a command (see --help)')
    .strict()
    .fail((message, error) => fail(error ?? new UserError(`${message}\nsee 'orchestrator --help'`, 2)))
    .help()
    .version(false)
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .parseAsync();
} catch (error) {
  fail(error);
}
