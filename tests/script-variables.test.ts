// The local warehouse's script variables (includes/increment.js on DuckDB): scalars are DuckDB
// variables, arrays are temporary tables; both end with the action that declared them, as a
// BigQuery script's variables do. Real DuckDB files.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DuckDbWarehouse } from '../orchestrator/warehouse/duckdb.js';
import { loadIncludes } from './support/includes.js';

type Increment = Record<string, (...args: string[]) => string>;

/** includes/dialect.js and increment.js, loaded as Dataform loads them, for the local engine. */
const increment = () => loadIncludes('duckdb', ['dialect', 'increment']).increment as unknown as Increment;

describe('script variables on the local warehouse', () => {
  const inc = increment();
  let dir: string;
  let warehouse: DuckDbWarehouse;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-variables-'));
    warehouse = await DuckDbWarehouse.open(path.join(dir, 'warehouse.duckdb'), { database: 'variables', log: () => undefined });
    await warehouse.execute('CREATE TABLE numbers AS SELECT range AS n FROM range(10)');
  });
  after(async () => {
    await warehouse.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const scalar = async (sql: string) => (await warehouse.query(sql)).rows[0]?.v;

  it('an array holds the distinct values of its column, without NULL, and is read by inArray, arrayMin and arrayMax', async () => {
    await warehouse.execute(inc.declareArray('picked', 'INT64', 'CASE WHEN n = 9 THEN NULL ELSE n % 4 END', 'numbers WHERE n >= 5'));
    // n 5..8 give 1, 2, 3, 0; n = 9 gives NULL, which is left out.
    assert.deepEqual((await warehouse.query(`SELECT n FROM numbers WHERE ${inc.inArray('n', 'picked')} ORDER BY n`)).rows.map((r) => Number(r.n)), [0, 1, 2, 3]);
    assert.equal(Number(await scalar(`SELECT ${inc.arrayMin('picked')} AS v`)), 0);
    assert.equal(Number(await scalar(`SELECT ${inc.arrayMax('picked')} AS v`)), 3);
  });

  it('an array with no values matches nothing, and its least and greatest are NULL', async () => {
    await warehouse.execute(inc.declareArray('nothing', 'INT64', 'n', 'numbers WHERE n > 100'));
    assert.equal(Number(await scalar(`SELECT COUNT(*) AS v FROM numbers WHERE ${inc.inArray('n', 'nothing')}`)), 0);
    assert.equal(await scalar(`SELECT ${inc.arrayMin('nothing')} AS v`), null);
    assert.equal(await scalar(`SELECT ${inc.arrayMax('nothing')} AS v`), null);
  });

  it('variables end with the action: after the reset, an array is gone and a scalar is NULL', async () => {
    await warehouse.execute(inc.declareArray('kept', 'INT64', 'n', 'numbers'));
    await warehouse.execute(inc.declare('threshold', 'INT64', 'SELECT 3'));
    assert.equal(Number(await scalar(`SELECT COUNT(*) AS v FROM numbers WHERE ${inc.inArray('n', 'kept')} AND n > ${inc.variable('threshold')}`)), 6);
    await warehouse.resetScriptVariables();
    // A later action that reads a variable it did not declare fails, as on BigQuery, instead of
    // reading what an earlier action left behind.
    await assert.rejects(warehouse.query(`SELECT COUNT(*) AS v FROM numbers WHERE ${inc.inArray('n', 'kept')}`), /script_array_kept/);
    assert.equal(await scalar(`SELECT ${inc.variable('threshold')} AS v`), null);
    assert.equal(Number(await scalar(`SELECT COUNT(*) AS v FROM duckdb_tables() WHERE database_name = 'temp'`)), 0);
  });
});
