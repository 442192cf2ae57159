// The local warehouse's MERGE (Dataform's incremental MERGE, run as delete + insert in DuckDB):
// the result and the counts BigQuery's MERGE would give, on a real DuckDB file.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Target } from '../orchestrator/identifiers.js';
import { DuckDbWarehouse } from '../orchestrator/warehouse/duckdb.js';

describe('the local MERGE', () => {
  let dir: string;
  let warehouse: DuckDbWarehouse;
  const target: Target = { database: 'merging', schema: 'main', name: 'facts' };
  const rowIds = async () => new Map((await warehouse.query('SELECT k, rowid AS id FROM facts')).rows.map((r) => [Number(r.k), Number(r.id)]));

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-merge-'));
    warehouse = await DuckDbWarehouse.open(path.join(dir, 'warehouse.duckdb'), { database: 'merging', log: () => undefined });
    await warehouse.execute(`CREATE TABLE facts AS SELECT * FROM (VALUES (1, 'a', NULL), (2, 'b', 2), (3, 'c', 3), (5, 'e', 5)) AS t(k, v, n)`);
  });
  after(async () => {
    await warehouse.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sets matched rows, inserts the others, and leaves a matched row that already holds the values in place', async () => {
    const before = await rowIds();
    const source = `SELECT * FROM (VALUES
      (1, 'a', NULL),  -- matched, every value the same (NULL alike): left in place, counted as updated
      (2, 'B', 2),     -- matched, one value changes
      (3, 'c', 3),     -- the same values as k = 3, but the condition on the target excludes that row: inserted again
      (4, 'd', 4)      -- new
    ) AS t(k, v, n)`;
    const counts = await warehouse.mergeInto(target, source, ['k'], ['k', 'v', 'n'], ['DATAFORM_DEST.k <> 3']);
    assert.deepEqual(counts, { inserted: 2, updated: 2 });
    const rows = (await warehouse.query('SELECT k, v, n FROM facts ORDER BY k, v')).rows.map((r) => [Number(r.k), r.v, r.n === null ? null : Number(r.n)]);
    assert.deepEqual(rows, [[1, 'a', null], [2, 'B', 2], [3, 'c', 3], [3, 'c', 3], [4, 'd', 4], [5, 'e', 5]]);
    const after = await rowIds();
    assert.equal(after.get(1), before.get(1), 'the unchanged row was not rewritten');
    assert.notEqual(after.get(2), before.get(2), 'the changed row was rewritten');
    assert.equal(after.get(5), before.get(5), 'a row outside the source is untouched');
  });
});
