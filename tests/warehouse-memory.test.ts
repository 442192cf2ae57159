import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import type { Target } from '../orchestrator/identifiers.js';
import { DuckDbWarehouse } from '../orchestrator/warehouse/duckdb.js';
import { MEMORY_ENV, machineMemoryBytes, memoryBudget, type MemoryBudget } from '../orchestrator/warehouse/memory.js';

// DuckDB's memory limit on a real DuckDB file: small by default, raised for a statement that needs more.
const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-memory-'));
after(() => rmSync(temp, { recursive: true, force: true }));

let files = 0;
async function open(memory: MemoryBudget, options: { sandbox?: boolean; file?: string } = {}) {
  const log: string[] = [];
  const file = options.file ?? path.join(temp, `w${files++}.duckdb`);
  const warehouse = await DuckDbWarehouse.open(file, { database: 'p', memory, sandbox: options.sandbox, log: (line) => log.push(line) });
  return { warehouse, log, file };
}

const limit = async (warehouse: DuckDbWarehouse) => (await warehouse.query(`SELECT current_setting('memory_limit') AS m`)).rows[0].m;

// 100 JSON texts of 2 MB in one vector: DuckDB parses each in buffer-managed memory, about 200 MB
// at once, far beyond a 32 MB limit (the way rows near Pub/Sub's 10 MB limit are parsed in staging).
const LARGE_JSON_ROWS = `SELECT range AS k, length(json_extract_string('{"a":"' || repeat('x', 2000000) || range || '"}', '$.a')) AS n FROM range(100)`;
const target = (name: string): Target => ({ database: 'p', schema: 's', name });

describe('the warehouse memory budget', () => {
  test('by default 512 MiB to start with and half the machine as the ceiling; a configured size is both', () => {
    const half = Math.floor(machineMemoryBytes() / 2 / 1024 ** 2);
    assert.deepEqual(memoryBudget({}), { start: `${Math.min(512, half)}MiB`, ceiling: `${half}MiB` });
    assert.deepEqual(memoryBudget({ [MEMORY_ENV]: '3GB' }), { start: '3GB', ceiling: '3GB' });
  });

  test('a warehouse starts at the start; a sandbox, which cannot change its settings later, at the ceiling', async () => {
    const { warehouse, file } = await open({ start: '64MiB', ceiling: '1GiB' });
    assert.equal(await limit(warehouse), '64.0 MiB');
    await warehouse.ensureDataset('p', 's');
    await warehouse.createOrReplaceTable(target('numbers'), `SELECT range AS n FROM range(100000)`, {});
    await warehouse.close();
    const sandbox = (await open({ start: '64MiB', ceiling: '1GiB' }, { sandbox: true, file })).warehouse;
    assert.equal((await sandbox.queryUntrusted(`SELECT current_setting('memory_limit') AS m`, 1)).rows[0][0], '1.0 GiB');
    await sandbox.close();

    // 64 KiB is too little to attach a DuckDB file that holds a table: opened at the ceiling instead, or refused at a fixed limit.
    const raised = await open({ start: '64KiB', ceiling: '1GiB' }, { file });
    assert.equal(await limit(raised.warehouse), '1.0 GiB');
    assert.deepEqual(raised.log, [`warehouse: opening ${file} needed more than 64KiB of memory; opening it with 1GiB`]);
    await raised.warehouse.close();
    await assert.rejects(open({ start: '64KiB', ceiling: '64KiB' }, { file }), /^UserError: the memory limit 64KiB is too small to open the warehouse: raise --memory$/);
  });

  test('a table that runs out of memory is created at the ceiling, once, and the warehouse says so', async () => {
    const { warehouse, log } = await open({ start: '32MiB', ceiling: '1GiB' });
    await warehouse.ensureDataset('p', 's');
    await warehouse.createOrReplaceTable(target('large'), LARGE_JSON_ROWS, {});
    assert.deepEqual(await warehouse.query(`SELECT COUNT(*) AS rows, SUM(n) AS chars FROM p.s.large`), { columns: ['rows', 'chars'], rows: [{ rows: 100n, chars: 200_000_190n }] });
    assert.deepEqual(log, [`warehouse: creating large needed more than 32MiB of memory; raised DuckDB's limit to 1GiB; running it again`]);
    assert.equal(await limit(warehouse), '1.0 GiB', 'the rest of the session keeps the ceiling');
    await warehouse.close();
  });

  test('a merge that runs out of memory is rolled back and merged again: no row twice, none lost', async () => {
    const { warehouse, log } = await open({ start: '32MiB', ceiling: '1GiB' });
    await warehouse.ensureDataset('p', 's');
    await warehouse.createOrReplaceTable(target('merged'), `SELECT range AS k, -1 AS n FROM range(50, 150)`, {});
    const counts = await warehouse.mergeInto(target('merged'), LARGE_JSON_ROWS, ['k'], ['k', 'n']);
    assert.deepEqual(counts, { inserted: 50, updated: 50 });
    assert.deepEqual((await warehouse.query(`SELECT COUNT(*) AS rows, COUNT(DISTINCT k) AS keys, COUNT(*) FILTER (WHERE n = -1) AS old FROM p.s.merged`)).rows, [{ rows: 150n, keys: 150n, old: 50n }]);
    assert.equal(log.length, 1);
    await warehouse.close();
  });

  test('at a fixed limit the error names it and the setting to raise; several statements in one text never run twice', async () => {
    const fixed = await open({ start: '32MiB', ceiling: '32MiB' });
    await fixed.warehouse.ensureDataset('p', 's');
    await assert.rejects(fixed.warehouse.createOrReplaceTable(target('large'), LARGE_JSON_ROWS, {}), (error: Error) => {
      assert.match(error.message, /^DuckDB ran out of memory at its limit of 32MiB: raise --memory or \$ORCHESTRATOR_DUCKDB_MEMORY \(Out of Memory Error: .*\)$/);
      return true;
    });
    assert.deepEqual(fixed.log, []);
    await fixed.warehouse.close();

    const low = await open({ start: '16MiB', ceiling: '32MiB' });
    await low.warehouse.ensureDataset('p', 's');
    await assert.rejects(low.warehouse.createOrReplaceTable(target('large'), LARGE_JSON_ROWS, {}), /^Error: DuckDB ran out of memory at its limit of 32MiB: raise --memory/);
    assert.equal(low.log.length, 1, 'raised once, then failed at the ceiling');
    await low.warehouse.close();

    const { warehouse, log } = await open({ start: '32MiB', ceiling: '1GiB' });
    await warehouse.ensureDataset('p', 's');
    await warehouse.execute(`CREATE TABLE p.s.runs (n INTEGER)`);
    await assert.rejects(warehouse.execute(`INSERT INTO p.s.runs VALUES (1); CREATE TABLE p.s.large AS ${LARGE_JSON_ROWS}`),
      /^Error: DuckDB ran out of memory at its limit of 32MiB in a SQL text of several statements, which is not run again \(its first statements committed\): raise --memory/);
    assert.deepEqual((await warehouse.query(`SELECT COUNT(*) AS runs FROM p.s.runs`)).rows, [{ runs: 1n }]);
    assert.deepEqual(log, []);
    await warehouse.close();
  });
});
