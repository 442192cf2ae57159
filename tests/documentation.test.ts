import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import { anchorPath, compiledGraph, fileDeliveries, pipelineFactory } from './support/pipeline.js';

const pipeline = pipelineFactory();

interface Documented {
  target: { database: string; schema: string; name: string };
  actionDescriptor?: { description?: string; columns?: { path: string[]; description?: string }[] };
}

test('every column of every model, the raw declaration and the state table is documented, and nothing else is', async () => {
  const p = pipeline();
  await p.append(await fileDeliveries(anchorPath('seed-conversations.json'), '2024-03-01T00:00:00Z'));
  await p.transform();
  const graph = await compiledGraph();
  const documented = [
    ...(graph.tables ?? []),
    ...(graph.declarations ?? []),
    ...(graph.operations ?? []).filter((o) => o.hasOutput),
  ] as unknown as Documented[];
  const warehouse = await openLocalWarehouse(p.project, p.workdir, true);
  try {
    for (const action of documented) {
      const name = action.target.name;
      assert.ok(action.actionDescriptor?.description, `${name} has a description`);
      const columns = action.actionDescriptor.columns ?? [];
      for (const column of columns) assert.ok(column.description?.trim(), `${name}.${column.path.join('.')} has a description`);
      const actual = await warehouse.columnNames(action.target);
      assert.ok(actual.length > 0, `${name} exists after a run`);
      assert.deepEqual(
        columns.map((c) => c.path[0]).sort(),
        [...actual].sort(),
        `${name}: the documented columns are exactly the columns it has`,
      );
    }
  } finally {
    await warehouse.close();
  }
});
