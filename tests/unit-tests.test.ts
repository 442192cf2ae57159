// `orchestrator test` runs the project's Dataform unit tests on DuckDB. Its comparison is checked
// against the Dataform CLI's own `runTest` (sliced out of node_modules/@dataform/cli/bundle.js and run
// with node:vm, as tests/dataform-statements.test.ts does for ExecutionSql), on the same rows.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import vm from 'node:vm';
import { PACKAGE_ROOT } from '../orchestrator/config.js';
import { asClientValue, compareTestRows } from '../orchestrator/dataform/unitTests.js';
import { Timestamp, type Row } from '../orchestrator/warehouse/warehouse.js';
import { cli, cliOk } from './support/cli.js';

const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-unit-tests-'));
after(() => rmSync(temp, { recursive: true, force: true }));

type CliRunTest = (adapter: { execute(query: string): Promise<{ rows: object[] }> }, testCase: object) => Promise<{ successful: boolean; messages?: string[] }>;

function cliRunTest(): CliRunTest {
  const bundle = readFileSync(createRequire(path.join(PACKAGE_ROOT, 'package.json')).resolve('@dataform/cli/bundle.js'), 'utf8');
  const start = bundle.indexOf('async function runTest(dbadapter, testCase) {');
  const end = bundle.indexOf('function parseBigqueryEvalError(');
  assert.ok(start > 0 && end > start, 'runTest is where @dataform/cli 3.0.69 has it');
  return vm.runInNewContext(`(() => { ${bundle.slice(start, end)}; return runTest; })()`) as CliRunTest;
}

async function viaCli(runTest: CliRunTest, actual: Row[], expected: Row[]): Promise<string[]> {
  const client = (rows: Row[]) => rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, asClientValue(v)])));
  const adapter = { execute: (query: string) => Promise.resolve({ rows: client(query === 'actual' ? actual : expected) }) };
  const result = await runTest(adapter, { name: 't', testQuery: 'actual', expectedOutputQuery: 'expected' });
  return Array.from(result.messages ?? []);
}

describe('the unit-test comparison equals dataform test\'s', () => {
  const t = (iso: string) => new Timestamp(BigInt(Date.parse(iso)) * 1000n);
  const row: Row = { order_id: 1n, city_code: 'BCN', sent_at: t('2024-02-01T10:00:00Z'), ok: true, delay: null };
  const cases: { name: string; actual: Row[]; expected: Row[] }[] = [
    { name: 'equal rows', actual: [row], expected: [{ ...row }] },
    { name: 'no rows', actual: [], expected: [] },
    { name: 'a row count', actual: [row, row], expected: [row] },
    { name: 'a missing column', actual: [row], expected: [{ ...row, extra: 1n }] },
    { name: 'column names differ only in case', actual: [row], expected: [{ ORDER_ID: 1n, City_Code: 'BCN', sent_at: t('2024-02-01T10:00:00Z'), ok: true, delay: null }] },
    { name: 'a value', actual: [row], expected: [{ ...row, city_code: 'MAD' }] },
    { name: 'a timestamp', actual: [row], expected: [{ ...row, sent_at: t('2024-02-01T10:00:01Z') }] },
    { name: 'a NULL', actual: [row], expected: [{ ...row, city_code: null }] },
    { name: 'a NULL timestamp', actual: [row], expected: [{ ...row, sent_at: null }] },
    { name: 'a timestamp for a NULL', actual: [{ ...row, sent_at: null }], expected: [row] },
    { name: 'a type', actual: [row], expected: [{ ...row, order_id: '1' }] },
    { name: 'the order of rows', actual: [row, { ...row, order_id: 2n }], expected: [{ ...row, order_id: 2n }, row] },
  ];
  const runTest = cliRunTest();
  for (const c of cases) {
    test(c.name, async () => {
      assert.deepEqual(compareTestRows(c.actual, c.expected).length === 0, (await viaCli(runTest, c.actual, c.expected)).length === 0);
      assert.deepEqual(compareTestRows(c.actual, c.expected), await viaCli(runTest, c.actual, c.expected));
    });
  }
});

describe('orchestrator test', () => {
  test('runs the project\'s unit tests on DuckDB, and they pass', async () => {
    const output = JSON.parse((await cliOk(['test', '--json'], temp)).stdout);
    assert.equal(output.ok, true);
    assert.ok(output.tests >= 3, `found ${output.tests} unit tests`);
    assert.ok(output.results.every((r: { fileName: string }) => r.fileName.startsWith('definitions/tests/')));
  });

  test('a wrong expected row fails, naming the row, the column and both values', async () => {
    const dir = mkdtempSync(path.join(temp, 'project-'));
    for (const entry of ['definitions', 'includes', 'dataform.json', 'package.json']) cpSync(path.join(PACKAGE_ROOT, entry), path.join(dir, entry), { recursive: true });
    cpSync(path.join(PACKAGE_ROOT, 'node_modules', '@dataform', 'core'), path.join(dir, 'node_modules', '@dataform', 'core'), { recursive: true });
    const file = path.join(dir, 'definitions/tests/stg_raw_events_repeated_key.sqlx');
    const text = readFileSync(file, 'utf8');
    const wrong = text.replace("'FIRST' AS city_code", "'LAST' AS city_code");
    assert.notEqual(wrong, text);
    writeFileSync(file, wrong);
    const result = await cli(['test', '--project-dir', dir], temp);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /^FAILED stg_raw_events_repeated_key /m);
    assert.match(result.stdout, /For row 0 and column "city_code": expected "LAST", but saw "FIRST"\./);
    assert.match(result.stdout, /3 unit tests: 2 passed, 1 failed/);
  });
});
