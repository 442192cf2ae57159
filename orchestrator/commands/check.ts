import type { CommandModule } from 'yargs';
import { checkGraph } from '../bigquery/check.js';
import { ZetaSqlServer } from '../bigquery/zetasql.js';
import { parseVars } from '../config.js';
import { compileProject } from '../dataform/compile.js';
import { targetKey } from '../identifiers.js';
import { type CommonArgs, contextOf, log, print, printJson, shortName, withCommonOptions } from './common.js';

interface CheckArgs extends CommonArgs {
  vars?: string[];
}

export const checkCommand: CommandModule<object, CheckArgs> = {
  command: 'check',
  describe: "Analyse every BigQuery statement a 'dataform run' would execute with ZetaSQL (BigQuery's SQL front end), offline",
  builder: (yargs) =>
    withCommonOptions(yargs).option('vars', { type: 'string', array: true, describe: 'Override Dataform vars: key=value[,key=value]' }),
  handler: async (args) => {
    const { project, json } = contextOf(args);
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
