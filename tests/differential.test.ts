import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ZetaSqlServer } from '../orchestrator/bigquery/zetasql.js';
import { PACKAGE_ROOT, loadProjectConfig } from '../orchestrator/config.js';
import { compileProject, type CompiledGraph } from '../orchestrator/dataform/compile.js';
import { actionsInDependencyOrder } from '../orchestrator/dataform/graph.js';
import { eventId } from '../orchestrator/events/eventId.js';
import { parseJson } from '../orchestrator/events/json.js';
import { targetKey } from '../orchestrator/identifiers.js';
import { textValue } from '../orchestrator/output/format.js';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import { RAW_COLUMNS, Timestamp, type Value } from '../orchestrator/warehouse/warehouse.js';
import { KIND, canonical, canonicalRows, duckTypeKind, evaluate, kindName, type ZetaTable } from './support/differential.js';
import { message, order } from './support/fixtures.js';
import { loadIncludes } from './support/includes.js';
import { LocalPipeline, anchorPath, delivery, fileDeliveries } from './support/pipeline.js';
import type { Delivery } from './support/reference.js';

// BigQuery's SQL on ZetaSQL's reference evaluator and the DuckDB SQL on DuckDB, on the same rows,
// must give the same answers: same columns, same types, same rows (NULLs included).

const project = loadProjectConfig(PACKAGE_ROOT);
let server: ZetaSqlServer | undefined;
before(async () => { server = await ZetaSqlServer.start(); });
after(() => server?.stop());

/** Raw deliveries that walk through SPEC's edge cases and the engines' known traps. */
async function edgeCaseDeliveries(): Promise<Delivery[]> {
  const at = (i: number) => new Date(Date.parse('2024-03-01T09:00:00Z') + i * 1000).toISOString();
  const first = message(31, 'courier', '2024-02-01T10:00:00Z');
  const events: (string | object)[] = [
    first, JSON.stringify(Object.fromEntries(Object.entries(first).reverse()), null, 2),
    message(31, 'customer', '2024-02-01T10:00:00Z', { chatStartedByMessage: true }),
    message(31, 'customer', '2024-02-01T10:05:00.5Z'),
    order(31, 'BCN'), order(31, 'MAD'),
    message(32, 'customer', '2024-02-01t12:00:00.1234567+02:00', { chatStartedByMessage: 'true' }),
    message(32, 'courier', '2024-02-01T05:00:01.999999-05:00', { senderAppType: 'Web', chatStartedByMessage: undefined }),
    message('33', 'courier', '2024-02-01T10:00:00Z', { senderAppType: undefined, fromId: '7001', courierId: 7001, orderStage: null }),
    message(34, 'customer', '2024-02-01T10:00:00Z', { fromId: 1e3, toId: 82414506.0, customerId: 12345678901234567000 }),
    'not json', '{"orderId": 1, "cityCode": "X",}', '{"orderId": NaN, "cityCode": "X"}', 'null', '[1, 2]', '"text"', '',
    { orderId: 35 }, order(-1, 'X'), order(1.5, 'X'), order('12a', 'X'), order(1e3, 'X'), order('99999999999999999999', 'X'), order(36, ''), order(36, 123),
    message(37, 'courier', '2024-02-30T10:00:00Z'), message(37, 'courier', '2024-02-01T24:00:00Z'), message(37, 'courier', '2024-02-01 10:00:00Z'),
    message(38, 'courier', '2024-02-01T10:00:00Z', { senderAppType: 'Web', fromId: 1 }),
    // Unicode white space around a sender app type or as a whole city code (trimmed as BigQuery's
    // TRIM does), and sent times outside BigQuery's timestamp range.
    message(39, 'courier', '2024-02-01T10:00:00Z', { senderAppType: '\tCourier Android\u3000' }), order(39, '\t\u2028'), order(39, '\u200bBCN'),
    message(39, 'customer', '0000-01-01T00:00:00Z'), message(39, 'customer', '9999-12-31T23:00:00-05:00'), message(39, 'customer', '0001-01-01T00:00:00Z'), message(39, 'customer', '2024-02-01T10:00:00-14:01'),
    // Raw texts for the parser: repeated keys (the first wins), values that are objects, arrays,
    // null or of the wrong type, escapes, numbers written as strings, and the texts a lenient parser
    // or a cheap pre-check could misjudge. (Not a surrogate pair escape: ZetaSQL's evaluator decodes
    // '\ud83d\ude00' as two replacement characters, DuckDB as the emoji.)
    '{"orderId": 40, "cityCode": "BCN", "cityCode": "MAD", "orderId": 41}',
    '{"orderId": "x", "orderId": 42, "cityCode": "X"}',
    '{"messageSentTime": null, "orderId": 43, "cityCode": "X", "messageSentTime": "2024-02-01T10:00:00Z"}',
    '{"orderId": 44, "cityCode": {"code": "BCN"}}', '{"orderId": 44, "cityCode": ["BCN"]}', '{"orderId": [44], "cityCode": "X"}',
    '{"orderId": {"id": 44}, "cityCode": "X"}', '{"orderId": 44, "cityCode": null}', '{"orderId": 44, "cityCode": true}',
    '{"orderId": 45, "cityCode": "B\\u0043N"}', '{"orderId": "4\\u0035", "cityCode": "\\"Q\\" \\\\ \\/ \\u00e9 😀"}',
    '{"orderId": 46.0, "cityCode": "X"}', '{"orderId": 46e0, "cityCode": "X"}', '{"orderId": " 46", "cityCode": "X"}', '{"orderId": "+46", "cityCode": "X"}',
    '{"orderId": 9223372036854775807, "cityCode": "X"}', '{"orderId": 9223372036854775808, "cityCode": "X"}',
    ' \n\t{"orderId": 47, "cityCode": "X"} \r\n', ' [{"orderId": 47, "cityCode": "X"}]', '{"orderId": 47, "cityCode": "nan, Infinity ,] ,}"}',
    '{"orderId": 47, "cityCode": "X", "extra": [1, 2,]}', '{"orderId": 47, "cityCode": "X", "extra": {"deep": -Infinity}}', '{"orderId": 47, "cityCode": "X"} {}',
    '{"orderId": 48, "cityCode": "X", "nested": ' + '['.repeat(100) + ']'.repeat(100) + '}',
    JSON.stringify(message(49, 'courier', '2024-02-01T10:00:00Z', { senderAppType: { app: 'Courier' }, fromId: [1], toId: null, courierId: true, customerId: 1.5, orderStage: '{"x": 1}' })),
    JSON.stringify(message(49, 'customer', '2024-02-01T10:00:00Z', { senderAppType: ' \u00a0Customer', chatStartedByMessage: 'TRUE', orderStage: '[x]' })),
    JSON.stringify(message(49, 'courier', { at: '2024-02-01T10:00:00Z' })), JSON.stringify(message(49, 'courier', ['2024-02-01T10:00:00Z'])),
    JSON.stringify(message(49, 'courier', 1706781600)), JSON.stringify(message(49, 'courier', '2024-02-01T10:00:00.123456789Z')),
    '{"orderId": 50, "messageSentTime": "2024-02-01T10:00:00Z", "senderAppType": "courier", "senderAppType": "customer"}',
    // For the analyst models: a city whose chats were never answered (either side waiting), a city
    // with one conversation, a city code that is hostile markup, a chat across midnight, equal
    // delays (percentile ties) and an answer in the same second (a delay of 0).
    message(60, 'courier', '2024-02-01T10:00:00Z'), message(60, 'courier', '2024-02-01T10:02:00Z'), order(60, 'UNA'),
    message(61, 'customer', '2024-02-02T08:00:00Z'), order(61, 'UNA'),
    message(62, 'customer', '2024-02-01T10:00:00Z'), message(62, 'courier', '2024-02-01T10:00:45Z'), order(62, 'ONE'),
    message(63, 'courier', '2024-02-01T10:00:00Z'), message(63, 'customer', '2024-02-01T10:01:00Z'), order(63, '<b>"O\'Neil" & co</b>'),
    message(64, 'customer', '2024-02-01T23:59:59Z'), message(64, 'courier', '2024-02-02T00:00:30Z'), order(64, 'DAY'),
    ...[10, 10, 20, 40, 0].flatMap((delay, i) => [
      message(65 + i, 'customer', '2024-02-03T12:00:00Z', { chatStartedByMessage: true }),
      message(65 + i, 'courier', new Date(Date.parse('2024-02-03T12:00:00Z') + delay * 1000).toISOString()), order(65 + i, 'TIE'),
    ]),
  ];
  const deliveries = events.map((e, i) => delivery(e, at(i)));
  deliveries.push({ ...deliveries[0], messageId: 'redelivered', publishTime: at(100) });
  return [...deliveries, ...(await fileDeliveries(anchorPath('glovo-sample.ndjson'), at(200)))];
}

describe('models: DuckDB equals ZetaSQL’s reference evaluator, model by model', () => {
  let graph: CompiledGraph;
  let duck: LocalPipeline | undefined;
  const zetaTables: ZetaTable[] = [];

  before(async () => {
    const deliveries = await edgeCaseDeliveries();
    duck = new LocalPipeline();
    await duck.append(deliveries);
    await duck.transform({ fullRefresh: true });
    graph = await compileProject(PACKAGE_ROOT, { engine: 'bigquery' });
    zetaTables.push({
      name: targetKey(project.raw),
      columns: RAW_COLUMNS.map((c) => ({ name: c.name, kind: c.type === 'TIMESTAMP' ? KIND.TIMESTAMP : KIND.STRING })),
      rows: deliveries.map((d): Value[] => ['test-subscription', d.messageId, new Timestamp(BigInt(Date.parse(d.publishTime)) * 1000n), d.data, JSON.stringify(d.attributes)]),
    });
  });
  after(() => duck?.dispose());

  const models = ['stg_raw_events', 'stg_pending_deliveries', 'stg_events', 'conversations', 'orders', 'rejected_events', 'customer_courier_conversations',
    'conversations_by_day', 'response_times_daily', 'response_times_daily_by_city', 'response_time_distribution', 'response_times_by_city',
    'response_times_summary', 'conversations_without_city'];
  for (const model of models) {
    test(model, async () => {
      const action = actionsInDependencyOrder(graph).find((a) => a.kind === 'table' && a.target.name === model);
      assert.ok(action && action.kind === 'table', `model ${model} is in the graph`);
      const zeta = await evaluate(server!, firstRunQuery(action.table.query, zetaTables[0].name), zetaTables);
      zetaTables.push({ name: action.name, columns: zeta.columns, rows: zeta.rows as Value[][] });

      const warehouse = await openLocalWarehouse(project, duck!.workdir, true);
      let duckRows: unknown[][];
      let duckColumns: { name: string; kind: number }[];
      try {
        const types = await warehouse.query(`SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '${action.target.schema}' AND table_name = '${model}' ORDER BY ordinal_position`);
        duckColumns = types.rows.map((r) => ({ name: textValue(r.column_name), kind: duckTypeKind(textValue(r.data_type)) }));
        const result = await warehouse.query(`SELECT * FROM \`${action.name}\``);
        duckRows = result.rows.map((row) => result.columns.map((c) => row[c]));
      } finally {
        await warehouse.close();
      }

      assert.deepEqual(duckColumns.map((c) => c.name), zeta.columns.map((c) => c.name), `${model}: same columns`);
      for (const [i, column] of zeta.columns.entries()) {
        assert.equal(kindName(duckColumns[i].kind), kindName(column.kind), `${model}.${column.name}: DuckDB type differs from BigQuery's`);
      }
      const expected = canonicalRows(zeta.rows);
      const actual = canonicalRows(duckRows);
      if (JSON.stringify(expected) !== JSON.stringify(actual)) {
        const onlyZeta = expected.filter((r) => !actual.includes(r));
        const onlyDuck = actual.filter((r) => !expected.includes(r));
        const a = onlyZeta[0]?.split(' | ') ?? [];
        const b = onlyDuck[0]?.split(' | ') ?? [];
        const columns = zeta.columns.filter((_, i) => a[i] !== b[i]).map((c) => c.name);
        assert.fail(`${model}: engines disagree on ${onlyZeta.length} row(s), column(s) ${columns.join(', ')}\n` +
          `  BigQuery (ZetaSQL): ${onlyZeta[0] ?? '(no row)'}\n  DuckDB:             ${onlyDuck[0] ?? '(no row)'}`);
      }
      if (model === 'customer_courier_conversations') assert.ok(expected.length >= 6, 'the fixture produces conversations');
      if (model === 'rejected_events') assert.ok(expected.length >= 15, 'the fixture produces rejects');
      if (model === 'response_times_by_city') {
        const city = (code: string) => expected.filter((r) => r.startsWith(`str:${code} |`));
        assert.ok(city('UNA').length === 2 && city('UNA').every((r) => / \| int:0 \| num:0 \| NULL \| NULL \| NULL \| /.test(r)), 'a city whose chats were never answered, by each side');
        assert.ok(city('ONE').length === 1 && city('ONE')[0].includes('| int:1 | int:1 | num:1 | int:45 | int:45 |'), 'a city with one conversation');
      }
    });
  }

  // SPEC: a repeated key keeps its first occurrence everywhere. The publisher's event_id is computed
  // from the object the reader parsed; both engines must store the fields of that same object.
  test('repeated keys: event_id and the stored fields describe the same object (the first occurrence) on both engines', async () => {
    const action = actionsInDependencyOrder(graph).find((a) => a.kind === 'table' && a.target.name === 'stg_raw_events')!;
    const zeta = zetaTables.find((t) => t.name === action.name);
    assert.ok(zeta, 'stg_raw_events was evaluated on ZetaSQL');
    const column = (name: string) => zeta.columns.findIndex((c) => c.name === name);
    const pick = (row: unknown[]) => ['event_id', 'data', 'reject_reason', 'order_id', 'city_code', 'sender_role'].map((name) => canonical(row[column(name)]));
    const warehouse = await openLocalWarehouse(project, duck!.workdir, true);
    let duckRows: unknown[][];
    try {
      const result = await warehouse.query(`SELECT * FROM \`${action.name}\``);
      duckRows = result.rows.map((row) => zeta.columns.map((c) => row[c.name]));
    } finally {
      await warehouse.close();
    }
    // The texts where the first occurrence and JSON.parse's last one differ.
    const repeated = [...new Set(zeta.rows.map((row) => textValue(row[column('data')])))].filter((data) => {
      const parsed = parseJson(data);
      return parsed.error === undefined && JSON.stringify(parsed.value) !== JSON.stringify(JSON.parse(data));
    });
    assert.ok(repeated.length >= 4, 'the fixture has repeated keys');
    for (const data of repeated) {
      const first = parseJson(data).value as Record<string, unknown>;
      for (const [engine, rows] of [['ZetaSQL', zeta.rows], ['DuckDB', duckRows]] as const) {
        const row: string[] | undefined = (rows as unknown[][]).map(pick).find((r) => r[1] === canonical(data));
        assert.ok(row, `${engine}: a row for ${data}`);
        assert.equal(row[0], canonical(eventId(first)), `${engine}: event_id of ${data} is the hash of the first occurrences`);
        if (row[2] !== 'NULL') continue;
        assert.equal(row[3], canonical(BigInt(String(first.orderId))), `${engine}: order_id of ${data}`);
        assert.equal(row[4], canonical(typeof first.messageSentTime === 'string' ? null : first.cityCode), `${engine}: city_code of ${data}`);
      }
    }
  });
});

/**
 * A model's query with the script variables its pre-operations declare (stg_pending_deliveries reads
 * the pending raw partitions through them) bound as in this first run, where every raw partition is
 * pending: ZetaSQL's evaluator runs a query, not a script.
 */
function firstRunQuery(query: string, rawTable: string): string {
  const bindings: Record<string, string> = {
    pending_from: "TIMESTAMP '1970-01-01 00:00:00+00'",
    pending_until: "TIMESTAMP '9999-12-31 00:00:00+00'",
    pending_hours: `ARRAY(SELECT DISTINCT TIMESTAMP_TRUNC(publish_time, HOUR) FROM \`${rawTable}\`)`,
  };
  return query.replace(/\b(pending_from|pending_until|pending_hours)\b/g, (name) => bindings[name]);
}

/** What includes/dialect.js's jsonPaths returns. */
interface JsonPaths {
  parse(json: string, options?: { valid?: boolean }): string;
  value(parsed: string, path: string): string;
  query(parsed: string, path: string): string;
}

/** What includes/dialect.js's jsonStringPaths returns. */
interface JsonStringPaths {
  parse(): string;
  value(parsed: string, path: string): string;
}

const isStrictJson = (text: string) => { try { JSON.parse(text); return true; } catch { return false; } };

/** includes/dialect.js with increment.js's hourOf beside it, loaded as Dataform loads them, for one engine. */
function dialect(engine: 'bigquery' | 'duckdb'): Record<string, (...args: string[]) => string> {
  const { dialect: helpers, increment } = loadIncludes(engine, ['dialect', 'increment']) as unknown as Record<string, Record<string, (...args: string[]) => string>>;
  return { ...helpers, hourOf: increment.hourOf };
}

describe('includes/dialect.js: every helper gives BigQuery’s answer on DuckDB', () => {
  const bq = dialect('bigquery');
  const dd = dialect('duckdb');
  const quote = (text: string) => `'${text.replaceAll("'", "''")}'`;

  async function compare(helper: string, inputs: (string | null)[], expression: (d: typeof bq) => string, kind: number = KIND.STRING) {
    const zeta = await evaluate(server!, `SELECT x, ${expression(bq)} AS result FROM cases`, [
      { name: 'cases', columns: [{ name: 'x', kind }], rows: inputs.map((x) => [kind === KIND.TIMESTAMP && x !== null ? new Timestamp(BigInt(Date.parse(x)) * 1000n) : x]) },
    ]);
    const duck = new LocalPipeline();
    const warehouse = await openLocalWarehouse(project, duck.workdir);
    try {
      const values = inputs.map((x) => `(${x === null ? 'NULL' : kind === KIND.TIMESTAMP ? `TIMESTAMPTZ ${quote(x)}` : quote(x)})`).join(', ');
      const result = await warehouse.query(`SELECT x, ${expression(dd)} AS result, typeof(${expression(dd)}) AS result_type FROM (VALUES ${values}) AS cases(x)`);
      const duckRows = result.rows.map((r) => [r.x, r.result]);
      for (const row of result.rows) {
        assert.equal(kindName(duckTypeKind(textValue(row.result_type))), kindName(zeta.columns[1].kind), `${helper}: DuckDB returns ${textValue(row.result_type)}`);
      }
      const byInput = new Map(zeta.rows.map((r) => [canonical(r[0]), canonical(r[1])]));
      for (const [x, value] of duckRows) {
        assert.equal(canonical(value), byInput.get(canonical(x)), `${helper}(${canonical(x)}): DuckDB says ${canonical(value)}, BigQuery says ${byInput.get(canonical(x))}`);
      }
    } finally {
      await warehouse.close();
      duck.dispose();
    }
  }

  const jsonTexts = ['{"a":1}', '{"a":"x"}', '{"a":"B\\u0043N"}', '{"a":1.5}', '{"a":true}', '{"a":null}', '{"a":{"b":1}}', '{"a":[1]}', '{}',
    '{"a":"NaN info"}', 'null', '"x"', '7', '', ' {"a": 2} ', 'nope', '{"a":', null];
  // Repeated keys (the first wins), nesting, escapes (a string that starts with a brace once
  // unescaped), numbers. Known difference, left out: a number with a fraction or an exponent, which
  // BigQuery's JSON_VALUE returns as written ('1.50', '1e3') and DuckDB as it writes the double back
  // ('1.5', '1000.0').
  const oddJsonTexts = ['{"a":1,"a":2}', '{"a":"x","b":1,"a":"y"}', '{"a":{"a":1},"a":2}', '{"b":{"a":1}}', '{"A":1}', '{"a":"\\u007b}"}',
    '{"a":"[x"}', '{"a":"{\\"b\\":1}"}', '{"a":"\\\\"}', '{"a":"\\"q"}', '{"a":""}', '{"a":false}', '{"a":-1}', '{"a":1.5}', '{"a":12345678901234567890}',
    '{"a":[]}', '{"a":{}}', '\n\t {"a":"é"}', '  [1]'];
  // Text only a lenient parser reads: isJson must reject it on both engines (the extractors expect
  // isJson-accepted text, see includes/dialect.js).
  const lenientJson = ['{"a":1,}', '[1,]', '{"a":NaN}', '{"a":-Infinity}', '{"a":nan}', '{"a":1} x', '{"a":[1, ]}', '{"a":{"b":INF}}'];
  test('isJson', () => compare('isJson', [...jsonTexts, ...oddJsonTexts, ...lenientJson, '{"a":"nan, inf ,]"}'], (d) => d.isJson('x')));
  test('jsonValue', () => compare('jsonValue', [...jsonTexts, ...oddJsonTexts], (d) => d.jsonValue('x', '$.a')));
  test('jsonQuery', () => compare('jsonQuery', [...jsonTexts, ...oddJsonTexts], (d) => d.jsonQuery('x', '$.a')));
  test('jsonQuery of the whole document', () => compare('jsonQuery', jsonTexts, (d) => d.jsonQuery('x', '$')));
  test('jsonIsObject', () => compare('jsonIsObject', [...jsonTexts, ...oddJsonTexts].filter((x) => x === null || isStrictJson(x)), (d) => d.jsonIsObject('x')));
  // jsonPaths reads a parse selected once (a subquery here), for any text and for isJson-accepted text.
  const paths = (d: typeof bq) => (d.jsonPaths as unknown as (p: string[]) => JsonPaths)(['$.b', '$.a']);
  for (const read of ['value', 'query'] as const) {
    test(`jsonPaths ${read}`, () => compare(`jsonPaths.${read}`, [...jsonTexts, ...oddJsonTexts],
      (d) => `(SELECT ${paths(d)[read]('p', '$.a')} FROM (SELECT ${paths(d).parse('x')} AS p))`));
    test(`jsonPaths ${read} of text known to be JSON`, () => compare(`jsonPaths.${read}`, [...jsonTexts, ...oddJsonTexts].filter((x) => x === null || isStrictJson(x)),
      (d) => `(SELECT ${paths(d)[read]('p', '$.a')} FROM (SELECT ${paths(d).parse('x', { valid: true })} AS p))`));
  }
  // jsonStringPaths, for objects of strings (message attributes), falls back to reading the text (x)
  // again where a field reads as an object or array, or starts like one: jsonValue's answer for any text.
  const stringPaths = (d: typeof bq) => (d.jsonStringPaths as unknown as (json: string, p: string[]) => JsonStringPaths)('x', ['$.b', '$.a']);
  test('jsonStringPaths value', () => compare('jsonStringPaths.value', [...jsonTexts, ...oddJsonTexts, '{"a":"|x"}', '{"a":"}"}', '{"a":"~"}', '{"a":"\\u00e9"}', '{"a":"z"}'],
    (d) => `(SELECT ${stringPaths(d).value('p', '$.a')} FROM (SELECT ${stringPaths(d).parse()} AS p))`));
  test('countIf and sumInt64 return INT64', async () => {
    const values = '(SELECT 1 AS v UNION ALL SELECT 2 UNION ALL SELECT 3)';
    await compare('countIf', ['1', null], (d) => `(SELECT ${d.countIf('v > 1')} FROM ${values})`);
    await compare('sumInt64', ['1', null], (d) => `(SELECT ${d.sumInt64('v')} FROM ${values})`);
  });
  test('firstBy keeps a NULL and orders by every key', async () => {
    // The first row by (k, t) is (NULL, 1, 'b'), the last ('c', 2, 'a'); excluding a row by its t moves the answer.
    const rows = `(SELECT 'a' AS v, 1 AS k, 'c' AS t UNION ALL SELECT NULL, 1, 'b' UNION ALL SELECT 'c', 2, 'a' UNION ALL SELECT 'd', 2, 'd')`;
    await compare('firstBy', ['none', 'b', 'c'], (d) => `(SELECT ${d.firstBy('v', 'k, t')} FROM ${rows} WHERE t != x)`);
    await compare('firstBy', ['none', 'a', 'd'], (d) => `(SELECT ${d.firstBy('v', 'k DESC, t DESC')} FROM ${rows} WHERE t != x)`);
  });
  test('inlinedCte reads like a plain CTE, referenced twice', () => compare('inlinedCte', ['a'],
    (d) => `CONCAT(x, (WITH ${d.inlinedCte('c')} (SELECT 'a' AS v UNION ALL SELECT 'b') SELECT STRING_AGG(CONCAT(c.v, twice.v), ',' ORDER BY c.v, twice.v) FROM c, c AS twice))`));
  test('digitsToInt64', () => compare('digitsToInt64', ['5', '007', '0', '+5', '-5', ' 5', '5\n', '0x1A', '1.5', '1e3', '', '٣', '99999999999999999999', '9223372036854775807', '9223372036854775808', null],
    (d) => d.digitsToInt64('x')));
  test('safeCastInt64', () => compare('safeCastInt64', ['5', '+5', '-5', '007', ' 5', '5 ', '\t5\n', '\v5', '\f5', '\u00a05', '0x1A', '- 5', '1.5', '1e3', 'abc', '', '99999999999999999999', '9223372036854775807', null],
    (d) => d.safeCastInt64('x')));
  test('rfc3339Timestamp', () => compare('rfc3339Timestamp', ['2024-02-01T10:00:00Z', '2024-02-01T12:00:00+02:00', '2024-02-01T10:00:00.1234567Z',
    '2024-02-01T10:00:00.5-05:30', '2024-02-30T10:00:00Z', 'nope', null,
    // BigQuery's range ends where DuckDB's does not.
    '0000-01-01T00:00:00Z', '0001-01-01T00:00:00Z', '0001-01-01T00:00:00+01:00', '0001-01-01T00:59:59-01:00',
    '9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59.9999999Z', '9999-12-31T23:00:00-05:00', '9999-12-31T23:59:59-00:01',
    '0002-01-01T00:00:00+14:00', '9998-12-31T23:59:59-14:00', '2024-02-01T10:00:00+14:01', '2024-02-01T10:00:00-15:00', '2024-02-01T10:00:00+23:59', '50000-01-01T00:00:00Z', '1e5-01-01T00:00:00Z', '12a4-01-01T00:00:00Z', ' 2024-02-01T10:00:00Z', '2024-02-01T10:00:00Z ',
    '\t2024-02-01T10:00:00Z', '+2024-02-01T10:00:00Z', '',
    // What RFC 3339 allows and what it does not: the pattern decides on both engines.
    '2024-02-01T10:00:00+14:00', '2024-02-01T10:00:00-14:00', '2024-02-01T10:00:00.1+13:59', '2024-02-01t10:00:00z', '2024-02-01 10:00:00Z',
    '2024-02-01T10:00:00', '2024-02-01T10:00Z', '2024-02-01T10:00:00+0200', '2024-02-01T10:00:00+02', '2024-02-01T24:00:00Z',
    '2024-02-01T10:00:00.Z', '2024-2-01T10:00:00Z', '2024-02-01T10:00:00Z\n'], (d) => d.rfc3339Timestamp('x')));
  // Every Unicode white space character, and look-alikes that are not white space.
  const spaces = ['\t', '\n', '\v', '\f', '\r', ' ', '\u0085', '\u00a0', '\u1680', '\u2000', '\u2005', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000'];
  test('trim', () => compare('trim', [...spaces.map((c) => `${c}a b${c}`), spaces.join(''), '\u200ba\ufeff', '\u001fa', 'a', '', null], (d) => d.trim('x')));
  test('trimStart', () => compare('trimStart', [...spaces.map((c) => `${c}a b${c}`), spaces.join(''), '\u200ba\ufeff', '\u001fa', 'a', '', null], (d) => d.trimStart('x')));
  test('regexpContains', () => compare('regexpContains', ['123', '12a', '', 'x9', null], (d) => d.regexpContains('x', '^[0-9]+$')));
  test('sha256Hex', () => compare('sha256Hex', ['abc', '', 'é', 'a#1#b', null], (d) => d.sha256Hex('x')));
  test('timestampDiffSeconds', () => compare('timestampDiffSeconds', ['2024-02-01T10:00:00Z', '2024-02-01T10:00:01.999Z', '2024-02-01T09:59:59.5Z', '2024-03-01T00:00:00Z', null],
    (d) => d.timestampDiffSeconds('x', d.timestampLiteral('2024-02-01 10:00:00+00')), KIND.TIMESTAMP));
  // increment.js: the raw table's partition of a publish time, before 1970 and at the ends of the range too.
  test('increment.hourOf', () => compare('hourOf', ['2024-02-01T10:00:00Z', '2024-02-01T10:59:59.999Z', '2024-02-01T10:00:00.001Z', '1970-01-01T00:00:00Z',
    '1969-12-31T23:59:59.999Z', '1969-12-31T23:00:00Z', '1969-12-31T22:30:00Z', '0001-01-01T00:59:59.999Z', '9999-12-31T23:59:59.999Z', null],
  (d) => d.hourOf('x'), KIND.TIMESTAMP));
});
