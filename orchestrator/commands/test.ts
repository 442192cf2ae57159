import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { runUnitTests } from '../dataform/unitTests.js';
import { UserError } from '../errors.js';
import { compileForDuckDb } from '../runner/local.js';
import { DuckDbWarehouse } from '../warehouse/duckdb.js';
import { type CommonArgs, contextOf, parseVars, print, printJson, withCommonOptions, withVarsOption } from './common.js';

interface TestArgs extends CommonArgs {
  vars?: string[];
}

export const testCommand: CommandModule<object, TestArgs> = {
  command: 'test',
  describe: "Run the Dataform unit tests (definitions/tests, type: \"test\") on DuckDB: each model query over its test inputs against the expected rows, compared as 'dataform test' compares them on BigQuery",
  builder: (yargs) =>
    withVarsOption(withCommonOptions(yargs)),
  handler: async (args) => {
    const { project, json } = contextOf(args);
    const graph = await compileForDuckDb(project, parseVars(args.vars));
    const tests = graph.tests ?? [];
    if (tests.length === 0) throw new UserError(`no Dataform unit tests in ${project.projectDir} (SQLX files with type: "test")`);
    // The inputs are inlined in the queries: a scratch warehouse, never the work directory's.
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-unit-tests-'));
    const warehouse = await DuckDbWarehouse.open(path.join(scratch, 'tests.duckdb'), { database: project.database, readOnly: false });
    let results;
    try {
      results = await runUnitTests(warehouse, tests);
    } finally {
      await warehouse.close();
      rmSync(scratch, { recursive: true, force: true });
    }
    const failed = results.filter((r) => !r.ok);
    if (json) printJson({ ok: failed.length === 0, tests: results.length, failed: failed.length, results });
    else {
      for (const result of results) {
        print(`${result.ok ? 'ok    ' : 'FAILED'} ${result.name} (${result.fileName})`);
        for (const message of result.messages) print(`         ${message}`);
      }
      print(`${results.length} unit tests: ${results.length - failed.length} passed, ${failed.length} failed`);
    }
    if (failed.length > 0) process.exitCode = 1;
  },
};
