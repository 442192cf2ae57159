import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DuckDbWarehouse } from '../orchestrator/warehouse/duckdb.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'warehouse-close-'));
after(() => rmSync(dir, { recursive: true, force: true }));

setFlagsFromString('--expose_gc');
const collectGarbage = runInNewContext('gc') as () => void;

async function count(file: string): Promise<number> {
  const warehouse = await DuckDbWarehouse.open(file, { database: 'w', readOnly: true });
  try {
    return await warehouse.countRows({ database: 'w', schema: 'main', name: 't' });
  } finally {
    await warehouse.close();
  }
}

// DuckDB frees a database when the last object that references it goes, not when the instance is
// closed: a stream read part way (the runner's sample of a check or a report view), which the Node
// bindings cannot free, keeps it open, and its destructor later checkpoints its own, older view over
// the file. A process that opens the same file one time after another (`up`, the tests) then lost
// committed rows.
test('a closed warehouse leaves its file complete and never writes to it again, even while a result of it is still referenced', async () => {
  const file = path.join(dir, 'w.duckdb');
  const first = await DuckDbWarehouse.open(file, { database: 'w' });
  await first.execute('CREATE TABLE t AS SELECT range AS x FROM range(10000)');
  let stream: ReturnType<DuckDbWarehouse['streamRows']> | undefined = first.streamRows('SELECT x FROM t');
  await stream.next();
  await first.close();
  assert.equal(existsSync(`${file}.wal`), false, 'close checkpoints: no write-ahead log is left for the next process to replay');

  const second = await DuckDbWarehouse.open(file, { database: 'w' });
  await second.execute('INSERT INTO t VALUES (-1)');
  await second.close();

  stream = undefined;
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, 100));
  collectGarbage();
  assert.equal(await count(file), 10_001, 'the row written after the first warehouse closed is still there');
});
