// orchestrator/bigquery/statements.ts against the Dataform CLI's own code: the CLI's `ExecutionSql`
// (what `dataform run` uses to write the SQL it sends to BigQuery) is sliced out of
// node_modules/@dataform/cli/bundle.js and run on the same compiled graphs, on every path a run can
// take, and both must produce the same jobs, byte for byte.
//
// The bundle cannot be imported (it runs the CLI on load), so its text is cut at the boundaries of
// the declarations ExecutionSql needs, and those are evaluated with node:vm inside one function:
// - the protobuf-generated `dataform` (and `google`) namespaces, the real ones, on the same
//   protobufjs/minimal runtime the CLI loads (with a fresh `roots` so nothing global is touched);
// - formatStatement, concatenateQueries, Tasks, Task, CompilationSql, ExecutionSql;
// - tableTypeStringToEnum / tableTypeEnumToString / setOrValidateTableEnumType, which the CLI's
//   Builder applies to every table before ExecutionSql sees it;
// - `semver` (the CLI's dependency), which ExecutionSql uses to pick incremental pre/post operations.
// The compiled graph is turned into the CLI's protobuf objects with `CompiledGraph.fromObject` (what
// `dataform run` holds after decoding its compile child's output: enum numbers, proto defaults), and
// table metadata is made with `TableMetadata.create`, as the BigQuery adapter does.
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import vm from 'node:vm';
import { PACKAGE_ROOT } from '../orchestrator/config.js';
import { type CompiledGraph, type CompiledTable, compileProject } from '../orchestrator/dataform/compile.js';
import { actionsInDependencyOrder } from '../orchestrator/dataform/graph.js';
import { UserError } from '../orchestrator/errors.js';
import { type Target, targetKey } from '../orchestrator/identifiers.js';
import { actionTasks, type RunState, splitScript, taskStatements } from '../orchestrator/bigquery/statements.js';

// ---- the CLI's code --------------------------------------------------------------------------------

interface CliTask { type: string; statement: string }
interface CliTarget { database?: string; schema?: string; name?: string }
interface CliAction { target: CliTarget }
interface CliGraph {
  projectConfig: object;
  dataformCoreVersion: string;
  tables: CliAction[];
  assertions: CliAction[];
  operations: CliAction[];
}
interface CliExecutionSql {
  createTableTasks(table: CliAction, runConfig: { fullRefresh: boolean }, tableMetadata: object | undefined): CliTask[];
  createAssertionTasks(assertion: CliAction): CliTask[];
  createOperationTasks(operation: CliAction): CliTask[];
}
interface Cli {
  version: string;
  dataform: {
    CompiledGraph: { fromObject(object: unknown): CliGraph };
    TableMetadata: { create(properties: object): object; Type: { TABLE: number; VIEW: number } };
  };
  ExecutionSql: new (project: object, dataformCoreVersion: string, uniqueIdGenerator: () => string) => CliExecutionSql;
  setOrValidateTableEnumType(table: CliAction): void;
}

function loadCli(): Cli {
  const bundlePath = createRequire(path.join(PACKAGE_ROOT, 'package.json')).resolve('@dataform/cli/bundle.js');
  const cliRequire = createRequire(bundlePath);
  const version = (cliRequire('./package.json') as { version: string }).version;
  const bundle = readFileSync(bundlePath, 'utf8');
  /** The text from `start` up to (not including) `end`; both must be found, or the CLI changed shape. */
  const cut = (start: string, end: string, endIncluded = '') => {
    const from = bundle.indexOf(start);
    assert.ok(from >= 0, `bundle.js of @dataform/cli ${version} has no ${JSON.stringify(start)}`);
    const to = bundle.indexOf(end, from + start.length);
    assert.ok(to >= 0, `bundle.js of @dataform/cli ${version} has no ${JSON.stringify(end)} after ${JSON.stringify(start)}`);
    return bundle.slice(from, to + (endIncluded ? endIncluded.length : 0));
  };
  const protobufs = cut('const $Reader = $protobuf__namespace.Reader', 'const google = $root.google = (() => {') +
    cut('const google = $root.google = (() => {', '\n})();\n', '\n})();\n');
  const source = [
    protobufs,
    cut('function tableTypeStringToEnum(', '\nfunction prune('),
    cut('function formatStatement(', '\nclass ErrorWithCause'),
    cut('class CompilationSql {', '\nclass ExecutionSql {'),
    cut('class ExecutionSql {', '\nfunction collectEvaluationQueries('),
  ].join('\n');
  const factory = new vm.Script(
    `(function ($protobuf__namespace, semver__namespace) {\n'use strict';\n${source}\nreturn { dataform, ExecutionSql, setOrValidateTableEnumType };\n})`,
    { filename: `${bundlePath} (ExecutionSql and what it needs)` },
  ).runInThisContext() as (protobuf: object, semver: object) => Omit<Cli, 'version'>;
  const minimal = cliRequire('protobufjs/minimal') as object;
  return { version, ...factory({ ...minimal, roots: {} }, cliRequire('semver') as object) };
}

// ---- comparing ------------------------------------------------------------------------------------

/** Deterministic ids for INSERT_OVERWRITE's staging table, restarted for each comparison on both sides. */
const idSequence = () => {
  let n = 0;
  return () => `id${n++}`;
};

const COLUMNS = ['order_id', 'event_id', 'payload'];

/** Every state of the target that changes what Dataform sends: absent, a table, a view; with and without --full-refresh. */
const STATES: { name: string; state: RunState }[] = [
  { name: 'first run', state: {} },
  { name: 'full refresh of an absent table', state: { fullRefresh: true } },
  { name: 'incremental run', state: { existing: { type: 'table', columns: COLUMNS } } },
  { name: 'full refresh of an existing table', state: { existing: { type: 'table', columns: COLUMNS }, fullRefresh: true } },
  { name: 'a view in its place', state: { existing: { type: 'view', columns: COLUMNS } } },
  { name: 'a view in its place, full refresh', state: { existing: { type: 'view', columns: COLUMNS }, fullRefresh: true } },
];

interface Comparison {
  jobs: number;
  /** Every statement the CLI wrote, to check what the comparison covered. */
  cliStatements: string[];
  /** Actions and paths statements.ts refused (with a UserError), and what the CLI wrote for them. */
  unsupported: { action: string; path: string; cli: string }[];
}

const plain = (tasks: { type: string; statement: string }[]) => tasks.map((t) => ({ type: t.type, statement: t.statement }));

function compare(cli: Cli, graph: CompiledGraph): Comparison {
  const cliGraph = cli.dataform.CompiledGraph.fromObject(graph);
  cliGraph.tables.forEach((t) => cli.setOrValidateTableEnumType(t));
  const version = graph.dataformCoreVersion;
  assert.ok(version && Number(version.split('.')[0]) >= 2, `compiled by @dataform/core ${version}: statements.ts assumes > 1.4.8`);
  const key = (t: CliTarget) => targetKey({ database: t.database ?? '', schema: t.schema ?? '', name: t.name ?? '' });
  const find = (actions: CliAction[], target: Target) => {
    const found = actions.find((a) => key(a.target) === targetKey(target));
    assert.ok(found, `${targetKey(target)} is in the CLI's graph`);
    return found;
  };
  const result: Comparison = { jobs: 0, cliStatements: [], unsupported: [] };
  const check = (name: string, path: string, ours: () => { type: string; statement: string }[], theirs: (ids: () => string) => CliTask[]) => {
    const cliTasks = plain(theirs(idSequence()));
    result.cliStatements.push(...cliTasks.map((t) => t.statement));
    let ourTasks;
    try {
      ourTasks = plain(ours());
    } catch (error) {
      if (!(error instanceof UserError)) throw error;
      result.unsupported.push({ action: name, path, cli: cliTasks.map((t) => t.statement).join('\n') });
      return;
    }
    assert.deepEqual(ourTasks, cliTasks, `${name}, ${path}: statements.ts differs from Dataform's ExecutionSql`);
    result.jobs += cliTasks.length;
  };
  for (const action of actionsInDependencyOrder(graph)) {
    if (action.kind === 'declaration') continue;
    if (action.kind === 'assertion') {
      const cliAssertion = find(cliGraph.assertions, action.target);
      check(action.name, 'assertion', () => actionTasks(action), (ids) => new cli.ExecutionSql(cliGraph.projectConfig, cliGraph.dataformCoreVersion || '1.0.0', ids).createAssertionTasks(cliAssertion));
      continue;
    }
    if (action.kind === 'operation') {
      const cliOperation = find(cliGraph.operations, action.target);
      check(action.name, 'operation', () => actionTasks(action), (ids) => new cli.ExecutionSql(cliGraph.projectConfig, cliGraph.dataformCoreVersion || '1.0.0', ids).createOperationTasks(cliOperation));
      continue;
    }
    const cliTable = find(cliGraph.tables, action.target);
    for (const { name, state } of STATES) {
      const metadata = state.existing && cli.dataform.TableMetadata.create({
        type: state.existing.type === 'table' ? cli.dataform.TableMetadata.Type.TABLE : cli.dataform.TableMetadata.Type.VIEW,
        target: cliTable.target,
        fields: state.existing.columns.map((column) => ({ name: column })),
      });
      check(
        action.name, name,
        () => actionTasks(action, state, idSequence()),
        (ids) => new cli.ExecutionSql(cliGraph.projectConfig, cliGraph.dataformCoreVersion || '1.0.0', ids).createTableTasks(cliTable, { fullRefresh: Boolean(state.fullRefresh) }, metadata),
      );
    }
  }
  return result;
}

// ---- a project using every option statements.ts supports ------------------------------------------

const temp = mkdtempSync(path.join(os.tmpdir(), 'dataform-statements-'));
after(() => rmSync(temp, { recursive: true, force: true }));

const SYNTHETIC: Record<string, string> = {
  'sources/raw.sqlx': `config { type: "declaration", database: "p-project", schema: "raw", name: "events" }`,
  'merge_update_filter.sqlx': `config {
  type: "incremental",
  protected: true,
  uniqueKey: ["order_id"],
  bigquery: {
    partitionBy: "DATE(published_at)",
    clusterBy: ["order_id", "event_id"],
    updatePartitionFilter: "published_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 7 DAY)",
    requirePartitionFilter: true,
    partitionExpirationDays: 30,
    additionalOptions: { description: "\\"merged\\"", labels: "[(\\"team\\", \\"chat\\")]" },
  },
}
pre_operations {
  DECLARE since TIMESTAMP DEFAULT (SELECT TIMESTAMP '2020-01-01');
  ---
  \${when(incremental(), "DECLARE ids ARRAY<INT64> DEFAULT (SELECT ARRAY_AGG(order_id) FROM " + self() + ") -- ids already there", "SELECT 1")}
}
SELECT order_id, event_id, published_at, 'a;b' AS payload FROM \${ref("events")} WHERE published_at > since -- trailing comment
\${when(incremental(), "AND order_id NOT IN UNNEST(ids)")}
post_operations {
  ASSERT (SELECT COUNT(*) FROM \${self()}) >= 0 AS 'non-negative' -- checked
}`,
  'merge_predicates.sqlx': `config {
  type: "incremental",
  uniqueKey: ["order_id", "event_id"],
  bigquery: { partitionBy: "RANGE_BUCKET(order_id, GENERATE_ARRAY(0, 1000, 10))", incrementalPredicates: ["DATAFORM_DEST.order_id > 5", " ", "DATAFORM_DEST.event_id IS NOT NULL"] },
  assertions: { uniqueKey: ["order_id", "event_id"], rowConditions: ["order_id > 0", "event_id LIKE '%\\\\'%'"] },
}
SELECT order_id, event_id, published_at, payload FROM \${ref("events")}`,
  'insert_only.sqlx': `config { type: "incremental", bigquery: { partitionBy: "DATE(published_at)", partitionExpirationDays: 7 } }
SELECT * FROM \${ref("events")}
-- the last line is a comment`,
  'insert_overwrite.sqlx': `config {
  type: "incremental",
  incrementalStrategy: "INSERT_OVERWRITE",
  bigquery: { partitionBy: "DATE(published_at)", updatePartitionFilter: "published_at > TIMESTAMP '2020-01-01'" },
}
SELECT * FROM \${ref("events")}`,
  'extend_schema.sqlx': `config { type: "incremental", uniqueKey: ["order_id"], onSchemaChange: "EXTEND" }
SELECT * FROM \${ref("events")}`,
  'plain_table.sqlx': `config { type: "table", bigquery: { clusterBy: ["order_id"] } }
pre_operations { SET @@query_label = "team:chat"; }
SELECT * FROM \${ref("events")}`,
  'plain_view.sqlx': `config { type: "view", bigquery: { additionalOptions: { description: "\\"v\\"" } } }
SELECT order_id FROM \${ref("plain_table")}`,
  'materialized.sqlx': `config { type: "view", materialized: true, bigquery: { partitionBy: "DATE(published_at)", additionalOptions: { enable_refresh: "true" } } }
SELECT order_id, published_at FROM \${ref("events")}`,
  'assert_custom.sqlx': `config { type: "assertion" }
SELECT * FROM \${ref("plain_view")} WHERE order_id IS NULL`,
  'two_queries.sqlx': `config { type: "operations", hasOutput: true }
CREATE TABLE IF NOT EXISTS \${self()} (x INT64)
---
INSERT INTO \${self()} (x) VALUES (1)`,
};

async function syntheticGraph(): Promise<CompiledGraph> {
  const dir = path.join(temp, 'synthetic');
  mkdirSync(path.join(dir, 'definitions', 'sources'), { recursive: true });
  writeFileSync(path.join(dir, 'dataform.json'), JSON.stringify({ warehouse: 'bigquery', defaultDatabase: 'p-project', defaultSchema: 'models', assertionSchema: 'checks', defaultLocation: 'EU' }));
  cpSync(path.join(PACKAGE_ROOT, 'package.json'), path.join(dir, 'package.json'));
  // The CLI needs @dataform/core installed beside the project (a symlinked node_modules is not accepted).
  cpSync(path.join(PACKAGE_ROOT, 'node_modules', '@dataform', 'core'), path.join(dir, 'node_modules', '@dataform', 'core'), { recursive: true });
  for (const [file, text] of Object.entries(SYNTHETIC)) writeFileSync(path.join(dir, 'definitions', file), text);
  const graph = await compileProject(dir, {});
  // `where` comes only from the legacy JS API: set it on a copy of a compiled table, as it would arrive.
  const base = graph.tables!.find((t) => t.target.name === 'insert_only')!;
  const withWhere: CompiledTable = { ...base, target: { ...base.target, name: 'insert_where' }, where: 'order_id > 0' };
  graph.tables!.push(withWhere);
  return graph;
}

// ---- tests ----------------------------------------------------------------------------------------

describe("statements.ts writes exactly what Dataform's ExecutionSql sends", () => {
  let cli: Cli;
  before(() => { cli = loadCli(); });

  test('the CLI code is the pinned one, loaded from its bundle', () => {
    assert.equal(cli.version, '3.0.69');
    assert.equal(typeof cli.ExecutionSql, 'function');
  });

  test('every action of the project, on every path (first run, incremental, full refresh, a view in the way)', async () => {
    const graph = await compileProject(PACKAGE_ROOT, { engine: 'bigquery' });
    const { jobs, cliStatements, unsupported } = compare(cli, graph);
    assert.deepEqual(unsupported, [], 'the project uses nothing statements.ts refuses');
    const expected = (graph.tables ?? []).filter((t) => !t.disabled).length * STATES.length +
      (graph.assertions ?? []).filter((a) => !a.disabled).length * 2 +
      (graph.operations ?? []).filter((o) => !o.disabled).reduce((n, o) => n + o.queries.length, 0);
    assert.equal(jobs, expected, 'every job of every action compared');
    const all = cliStatements.join('\n');
    // What the comparison covered: incremental MERGEs with their predicates, and the first run's CREATE.
    assert.match(all, /\nmerge `[^`]+` DATAFORM_DEST\nusing \(/);
    assert.match(all, /create or replace table `[^`]+` partition by /);
    for (const table of graph.tables ?? []) {
      if (table.bigquery?.updatePartitionFilter) assert.ok(all.includes(`and DATAFORM_DEST.${table.bigquery.updatePartitionFilter}`), `${table.target.name}: updatePartitionFilter compared`);
      if (table.bigquery?.partitionBy && table.bigquery.requirePartitionFilter) assert.ok(all.includes('OPTIONS(require_partition_filter=true'), `${table.target.name}: OPTIONS compared`);
    }
  });

  test('every option statements.ts supports, on a project that uses them all', async () => {
    const graph = await syntheticGraph();
    const { jobs, cliStatements, unsupported } = compare(cli, graph);
    assert.ok(jobs > 50, `${jobs} jobs compared`);
    const all = cliStatements.join('\n');
    for (const covered of [
      'and DATAFORM_DEST.published_at >= TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL 7 DAY)',
      'OPTIONS(partition_expiration_days=30,require_partition_filter=true,description="merged",labels=[("team", "chat")])as ',
      'and (DATAFORM_DEST.order_id > 5) and (DATAFORM_DEST.event_id IS NOT NULL)',
      'DATAFORM_DEST.order_id = DATAFORM_SOURCE.order_id and DATAFORM_DEST.event_id = DATAFORM_SOURCE.event_id',
      'insert into `p-project.models.insert_only`\t\n(',
      'select * from (',
      'CREATE OR REPLACE TEMP TABLE `staging_table_temp_id0`',
      'create or replace materialized view `p-project.models.materialized` partition by DATE(published_at) OPTIONS(enable_refresh=true)as ',
      'drop view if exists `p-project.models.plain_table`',
      'drop table if exists `p-project.models.plain_view`',
      'select sum(1) as row_count from `p-project.checks.',
      "-- trailing comment",
    ]) {
      assert.ok(all.includes(covered), `the CLI wrote ${JSON.stringify(covered)}, and it was compared`);
    }
    // A protected table is merged into even on --full-refresh.
    assert.ok(cliStatements.filter((s) => s.includes('merge `p-project.models.merge_update_filter`')).length >= 2);
    // onSchemaChange other than IGNORE: Dataform writes a stored procedure; statements.ts refuses it clearly.
    assert.deepEqual([...new Set(unsupported.map((u) => u.action))], ['p-project.models.extend_schema']);
    for (const u of unsupported) assert.match(u.cli, /CREATE OR REPLACE PROCEDURE/);
  });
});

describe('splitting a script into statements', () => {
  test('strings, backticks and comments hold no statement boundary', () => {
    const script = "SELECT ';' AS a, `x;y` AS b -- c;d\n/* e; f */ FROM t;\nSELECT \"\"\"g;\nh\"\"\", r'\\';' # i;\n;;SELECT 1";
    assert.deepEqual(splitScript(script).map((s) => s.sql), [
      "SELECT ';' AS a, `x;y` AS b -- c;d\n/* e; f */ FROM t",
      "SELECT \"\"\"g;\nh\"\"\", r'\\';' # i;",
      'SELECT 1',
    ]);
  });

  test('BEGIN ... EXCEPTION ... END blocks are flattened into their statements', () => {
    const script = 'BEGIN\n  DECLARE x DEFAULT (1);\n  SELECT x;\nEXCEPTION WHEN ERROR THEN\n  SELECT 2;\nEND;\nBEGIN TRANSACTION;\nDROP TABLE IF EXISTS `t`;';
    assert.deepEqual(splitScript(script).map((s) => s.sql), ['DECLARE x DEFAULT (1)', 'SELECT x', 'SELECT 2', 'BEGIN TRANSACTION', 'DROP TABLE IF EXISTS `t`']);
  });

  test("each statement of Dataform's script carries its part's purpose", () => {
    const table: CompiledTable = {
      type: 'incremental', target: { database: 'p-project', schema: 'm', name: 't' }, fileName: 'definitions/t.sqlx', uniqueKey: ['k'],
      query: 'SELECT 1 AS k', incrementalQuery: 'SELECT 2 AS k -- new rows',
      incrementalPreOps: ['DECLARE a INT64 DEFAULT (1); DECLARE b DEFAULT (2) -- two'], incrementalPostOps: ['ASSERT TRUE AS "ok"'],
    };
    const action = { kind: 'table' as const, name: 'p-project.m.t', target: table.target, dependencies: [], tags: [], table };
    const [task] = actionTasks(action, { existing: { type: 'table', columns: ['k'] } });
    assert.deepEqual(taskStatements(task).map((s) => s.purpose), ['incremental pre-operation', 'incremental pre-operation', 'incremental merge', 'incremental post-operation']);
  });
});
