import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { canonicalJson, eventId } from '../orchestrator/events/eventId.js';
import { MAX_JSON_DEPTH, parseJson } from '../orchestrator/events/json.js';
import { toEventMessage } from '../orchestrator/events/message.js';
import { localSourceName, readRecords, type SourceRecord } from '../orchestrator/events/reader.js';
import { assertCleanError, cli, cliOk } from './support/cli.js';
import { message, order } from './support/fixtures.js';

// Input a careless or hostile producer can write. The reader must never crash or recurse on it,
// never drop a record silently, and read every valid layout of SPEC's three shapes whole.

const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-hostile-'));
after(() => rmSync(temp, { recursive: true, force: true }));

async function read(input: string | Buffer | (string | Buffer)[]): Promise<SourceRecord[]> {
  const records: SourceRecord[] = [];
  for await (const record of readRecords(Readable.from(Array.isArray(input) ? input : [input]))) records.push(record);
  return records;
}

/** Cuts text (or bytes) into pieces of the given sizes, cycling, so records and characters straddle chunks. */
function chunked<T extends string | Buffer>(input: T, sizes: number[]): T[] {
  const pieces: T[] = [];
  for (let at = 0, k = 0; at < input.length; k++) {
    const size = sizes[k % sizes.length];
    pieces.push(input.slice(at, at + size) as T);
    at += size;
  }
  return pieces;
}

/** A small seeded generator (mulberry32), so that a failing case can be replayed. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)] };
}

const nested = (depth: number, open = '[', close = ']', inner = '1') => open.repeat(depth) + inner + close.repeat(depth);

describe('a record nested deeper than the warehouse reads (SPEC)', () => {
  test(`the limit is ${MAX_JSON_DEPTH} levels of objects and arrays, counted without recursion`, () => {
    assert.equal(MAX_JSON_DEPTH, 500);
    const atLimit = `{"orderId":1,"cityCode":"X","n":${nested(MAX_JSON_DEPTH - 1)}}`;
    assert.equal(parseJson(atLimit).error, undefined);
    assert.match(parseJson(`{"orderId":1,"cityCode":"X","n":${nested(MAX_JSON_DEPTH)}}`).error!, /nested deeper than 500 levels/);
    assert.match(parseJson(nested(1_000_000, '{"a":', '}')).error!, /nested deeper than 500 levels/);
  });

  for (const depth of [3000, 1_000_000]) {
    test(`${depth} levels deep: a reject with its position, and the records after it are read, in all three shapes`, async () => {
      const deep = `{"orderId":2,"cityCode":"DEEP","n":${nested(depth, '[{"a":', '}]')}}`;
      const layouts = {
        ndjson: [`{"orderId":1,"cityCode":"A"}\n${deep}\n{"orderId":3,"cityCode":"B"}\n`, [1, 2, 3]],
        array: [`[\n  {"orderId":1,"cityCode":"A"},\n  ${deep},\n  {"orderId":3,"cityCode":"B"}\n]`, [2, 3, 4]],
        concatenated: [`{\n  "orderId": 1,\n  "cityCode": "A"\n},\n${deep}\n{\n  "orderId": 3,\n  "cityCode": "B"\n}`, [1, 5, 6]],
      } as const;
      for (const [shape, [text, lines]] of Object.entries(layouts)) {
        const records = await read(chunked(text, [65536, 4099]));
        assert.deepEqual(records.map((r) => [r.position, r.line, r.error === undefined]), [[1, lines[0], true], [2, lines[1], false], [3, lines[2], true]], shape);
        assert.equal(records[1].text, deep, `${shape}: the deep record keeps its text`);
        assert.match(records[1].error!, /nested deeper than 500 levels/);
        const messages = records.map((r) => toEventMessage(r, 'file:///deep.json'));
        assert.equal(messages[1].attributes.event_id, undefined, 'no event_id: staging identifies it by source and position');
        assert.deepEqual(records[2].value, { orderId: 3, cityCode: 'B' });
      }
    });
  }

  test('event identity of a value a million levels deep is computed without recursion', () => {
    let value: unknown = 1;
    for (let i = 0; i < 1_000_000; i++) value = { a: [value] };
    const text = canonicalJson(value);
    assert.equal(text.length, 1_000_000 * 8 + 1);
    assert.ok(text.startsWith('{"a":[{"a":[') && text.endsWith(']}]}'));
    assert.match(eventId(value), /^[0-9a-f]{64}$/);
  });

  test('load: the file is read whole and the deep record lands as a raw row without event_id', async () => {
    const workdir = path.join(temp, 'deep-load');
    const file = path.join(temp, 'deep.ndjson');
    writeFileSync(file, [JSON.stringify(order(1, 'A')), nested(3000, '{"a":', '}'), nested(3000), JSON.stringify(order(3, 'B'))].join('\n'));
    const summary = JSON.parse((await cliOk(['load', file, '--workdir', workdir, '--json'], temp)).stdout);
    assert.equal(summary.records, 4);
    assert.equal(summary.notJson, 2);
    const rows = JSON.parse((await cliOk(['query', 'SELECT attributes FROM chat_raw.raw_events', '--workdir', workdir, '--json'], temp)).stdout) as { attributes: string }[];
    const attributes = rows.map((r) => JSON.parse(r.attributes) as Record<string, string | undefined>).sort((a, b) => Number(a.position) - Number(b.position));
    assert.deepEqual(attributes.map((a) => [a.position, a.line, a.event_id !== undefined]), [['1', '1', true], ['2', '2', false], ['3', '3', false], ['4', '4', true]]);
  });

  // BigQuery's PARSE_JSON stops at 500 levels (its documented JSON limit) while DuckDB's json_valid
  // accepts any depth: the reader's verdict (attribute rejected=invalid_json) decides on both.
  test('staging rejects a record nested deeper than 500 levels as invalid_json', async () => {
    const workdir = path.join(temp, 'deep-staging');
    const file = path.join(temp, 'deep-order.ndjson');
    writeFileSync(file, `{"orderId":7,"cityCode":"DEEP","n":${nested(600)}}\n`);
    await cliOk(['load', file, '--workdir', workdir], temp);
    await cliOk(['transform', '--workdir', workdir], temp);
    const rejects = JSON.parse((await cliOk(['query', 'SELECT reason FROM chat_models.rejected_events', '--workdir', workdir, '--json'], temp)).stdout);
    assert.deepEqual(rejects, [{ reason: 'invalid_json' }]);
  });
});

/** Writes one object in one of the ways a producer might. */
const styles = [
  (o: object) => JSON.stringify(o),
  (o: object) => JSON.stringify(o, null, 2),
  (o: object) => JSON.stringify(o, null, 4),
  (o: object) => JSON.stringify(o, null, '\t'),
  (o: object) => JSON.stringify(o, null, 1).replaceAll('": ', '" : '),
  (o: object) => JSON.stringify(o, null, 2).replaceAll('\n', '\r\n'),
] as const;

function randomEvent(r: ReturnType<typeof random>, i: number): object {
  const tricky = ['}', ']', '{', '[', ',', '"', '\\', '\\"}', ':', 'é', '😀', '\u2028', ' \t '];
  const text = () => Array.from({ length: r.int(4) }, () => r.pick(tricky)).join('') + String(r.int(100));
  return r.next() < 0.3
    ? order(i, text())
    : message(i, r.pick(['courier', 'customer'] as const), `2024-02-01T10:00:${String(r.int(60)).padStart(2, '0')}Z`,
      { orderStage: text(), extra: r.next() < 0.5 ? { nested: [text(), { deeper: [1, null, true] }], empty: {} } : [] });
}

/** The 1-based line on which each record starts. */
function linesOf(text: string, starts: number[]): number[] {
  return starts.map((start) => text.slice(0, start).split('\n').length);
}

describe('every valid layout of the three shapes is read whole (SPEC)', () => {
  test('the reported case: a first object on one line, the rest pretty-printed', async () => {
    const events = Array.from({ length: 6 }, (_, i) => (i % 2 ? order(i + 1, 'BCN') : message(i + 1, 'courier', '2024-02-01T10:00:00Z')));
    const text = [JSON.stringify(events[0]), ...events.slice(1).map((e) => JSON.stringify(e, null, 2))].join('\n');
    const records = await read(text);
    assert.deepEqual(records.map((r) => r.value), events);
    assert.ok(records.every((r) => r.error === undefined));
  });

  test('generated layouts: any mix of compact and pretty-printed objects, separators, BOM, CRLF, arrays, chunk sizes', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = random(seed);
      const events = Array.from({ length: 1 + r.int(12) }, (_, i) => randomEvent(r, i + 1));
      const array = r.next() < 0.3;
      const separators = array ? [',', ',\n', ', ', ',\r\n', '\n,'] : ['\n', '\r\n', ',\n', ' ', '', ',', '\n\n', ' ,\n  ', '\t'];
      let text = (r.next() < 0.2 ? '\ufeff' : '') + (array ? r.pick(['[', '[\n', '[\n  ']) : r.pick(['', '\n', '  ']));
      const starts: number[] = [];
      const written: string[] = [];
      for (const [i, event] of events.entries()) {
        if (i > 0) text += r.pick(separators);
        starts.push(text.length);
        const eventText = r.pick(styles)(event);
        written.push(eventText);
        text += eventText;
      }
      text += array ? r.pick([']', '\n]\n', '\r\n]']) : r.pick(['', '\n', '\r\n', '\n\n']);
      const records = await read(chunked(text, [1 + r.int(5), 1 + r.int(300), 1 + r.int(5000)]));
      const label = `seed ${seed}: ${JSON.stringify(text)}`;
      assert.deepEqual(records.map((x) => x.error), events.map(() => undefined), label);
      // (The spaced-colon style also spaces colons inside strings: compare with what was written.)
      assert.deepEqual(records.map((x) => x.value), written.map((w) => JSON.parse(w)), label);
      assert.deepEqual(records.map((x) => x.text), written, label);
      assert.deepEqual(records.map((x) => x.line), linesOf(text, starts), label);
      assert.deepEqual(records.map((x) => x.position), events.map((_, i) => i + 1), label);
    }
  });
});

describe('broken records are rejected alone and the rest is read (SPEC)', () => {
  /** Ways a line of NDJSON goes bad. (None starts with a closing bracket: after a line left open,
   * such a line would complete a valid multi-line value, which the third shape allows.) */
  const corruptions = [
    (line: string, r: ReturnType<typeof random>) => line.slice(0, 1 + r.int(line.length - 2)), // truncated
    (line: string) => `${line} x`,
    (line: string) => line.replace(':', ''),
    (line: string) => `${line.slice(0, -1)},}`,
    (line: string) => `${line}{`,
    () => 'not json',
    () => '{"a":"unterminated',
    () => '{"a":"escaped newline\\',
    () => '"x", [1, 2',
    () => '{"a": [',
    () => '"a": 1,',
  ];

  test('NDJSON: each bad line is one reject with its line, and the next line is read normally', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = random(seed);
      const lines = Array.from({ length: 2 + r.int(10) }, (_, i) => JSON.stringify(randomEvent(r, i + 1)));
      const bad = new Set<number>();
      const written = lines.map((line, i) => {
        if (r.next() >= 0.4) return line;
        bad.add(i);
        return r.pick(corruptions)(line, r);
      });
      const text = written.join(r.pick(['\n', '\r\n'])) + r.pick(['', '\n']);
      const records = await read(chunked(text, [1 + r.int(7), 1 + r.int(400)]));
      const label = `seed ${seed}: ${JSON.stringify(text)}`;
      assert.deepEqual(records.map((x) => [x.line, x.text, x.error === undefined]), written.map((line, i) => [i + 1, line.trim(), !bad.has(i)]), label);
    }
  });

  test('pretty-printed objects: a broken one costs its own lines, never a neighbour', async () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = random(seed);
      const events = Array.from({ length: 2 + r.int(6) }, (_, i) => randomEvent(r, i + 1));
      const broken = r.int(events.length);
      const array = r.next() < 0.3;
      const pieces = events.map((event, i) => {
        const pretty = JSON.stringify(event, null, 2);
        if (i !== broken) return pretty;
        const at = 1 + r.int(pretty.length - 1);
        return r.next() < 0.5 ? pretty.slice(0, at) : pretty.slice(0, at) + pretty.slice(at + 1); // truncated, or one character lost
      });
      const text = array ? `[\n${pieces.join(',\n')}\n]\n` : `${pieces.join(r.pick(['\n', ',\n']))}\n`;
      const records = await read(chunked(text, [1 + r.int(9), 1 + r.int(700)]));
      const label = `seed ${seed}: ${JSON.stringify(text)}`;
      // Every untouched object is read, in order; every other record is text of the broken one
      // (rejects, or fragments of it that are JSON on their own, such as a line holding `1,`).
      const others = events.filter((_, i) => i !== broken).map((e) => JSON.stringify(e));
      const isOther = (x: SourceRecord) => x.error === undefined && others.includes(JSON.stringify(x.value));
      assert.deepEqual(records.filter(isOther).map((x) => JSON.stringify(x.value)), others, label);
      for (const x of records.filter((x) => !isOther(x))) assert.ok(pieces[broken].includes(x.text.replace(/,$/, '')), `${label}: ${JSON.stringify(x.text)} is not from the broken object`);
    }
  });

  test('a minified array: a broken element is one reject, its neighbours on the same line are read', async () => {
    const records = await read('[{"orderId":1,"cityCode":"A"},{"orderId":2,"cityCode":"B",},{"orderId":3,"cityCode":"C"},nope,{"orderId":4 "cityCode":"D"},{"orderId":5,"cityCode":"E"}]');
    assert.deepEqual(records.map((r) => [r.text, r.error === undefined]), [
      ['{"orderId":1,"cityCode":"A"}', true], ['{"orderId":2,"cityCode":"B",}', false], ['{"orderId":3,"cityCode":"C"}', true],
      ['nope', false], ['{"orderId":4 "cityCode":"D"}', false], ['{"orderId":5,"cityCode":"E"}', true],
    ]);
  });

  test('a line longer than the hold limit: good records pass, a bad one is rejected alone', async () => {
    const good = Array.from({ length: 40_000 }, (_, i) => JSON.stringify(order(i + 1, 'CITY')));
    const line = [...good.slice(0, 20_000), '{"orderId":0,"cityCode":,}', ...good.slice(20_000)].join('');
    const records = await read(chunked(line, [65536]));
    assert.equal(records.length, 40_001);
    assert.deepEqual(records.filter((r) => r.error !== undefined).map((r) => [r.position, r.text]), [[20_001, '{"orderId":0,"cityCode":,}']]);
  });
});

describe('text encodings', () => {
  const text = `${JSON.stringify(order(1, 'BCN'))}\n${JSON.stringify(message(1, 'courier', '2024-02-01T10:00:00Z', { orderStage: 'é😀' }), null, 2)}\n`;
  const expected = [order(1, 'BCN'), message(1, 'courier', '2024-02-01T10:00:00Z', { orderStage: 'é😀' })];
  const utf16be = (s: string) => Buffer.from(s, 'utf16le').swap16();

  for (const [name, bytes] of [
    ['UTF-8 with a byte order mark', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])],
    ['UTF-16 LE with a byte order mark', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])],
    ['UTF-16 BE with a byte order mark', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(text)])],
    ['UTF-16 LE without a byte order mark', Buffer.from(text, 'utf16le')],
    ['UTF-16 BE without a byte order mark', utf16be(text)],
  ] as const) {
    test(`${name} is decoded, whatever the chunk boundaries`, async () => {
      for (const sizes of [[bytes.length], [1], [3, 1, 2], [5, 7]]) {
        const records = await read(chunked(bytes, sizes));
        assert.deepEqual(records.map((r) => r.value), expected, `chunks of ${sizes.join(',')}`);
        assert.equal(records[1].text, JSON.stringify(expected[1], null, 2));
      }
    });
  }

  test('UTF-32 is refused in one clear line', async () => {
    const file = path.join(temp, 'utf32.json');
    const utf32 = Buffer.alloc(text.length * 4);
    // eslint-disable-next-line @typescript-eslint/no-misused-spread -- code points are what UTF-32 encodes, one in 4 bytes
    [...text].forEach((c, i) => utf32.writeUInt32LE(c.codePointAt(0)!, i * 4));
    writeFileSync(file, Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x00]), utf32]));
    assertCleanError(await cli(['load', file, '--workdir', path.join(temp, 'utf32')], temp), /^orchestrator: the input file is UTF-32 encoded: convert it to UTF-8/m);
  });
});

describe('repeated keys: the first occurrence wins, event_id included (SPEC)', () => {
  test('the reported case', async () => {
    const [record] = await read('{"orderId":1,"cityCode":"FIRST","cityCode":"LAST"}\n');
    assert.deepEqual(record.value, { orderId: 1, cityCode: 'FIRST' });
    assert.equal(toEventMessage(record, 'x').attributes.event_id, eventId({ orderId: 1, cityCode: 'FIRST' }));
    assert.notEqual(toEventMessage(record, 'x').attributes.event_id, eventId({ orderId: 1, cityCode: 'LAST' }));
  });

  test('nested objects, escaped keys, and "__proto__" as an ordinary key', () => {
    assert.deepEqual(parseJson('{"a":{"x":1,"x":2},"a":{"y":3},"b":[{"k":1,"k":[2]}],"\\u0063":1,"c":2}').value, { a: { x: 1 }, b: [{ k: 1 }], c: 1 });
    const proto = parseJson('{"__proto__":{"polluted":true},"__proto__":1,"orderId":1}').value as Record<string, unknown>;
    assert.deepEqual(Object.keys(proto), ['__proto__', 'orderId']);
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.equal(canonicalJson(proto), '{"__proto__":{"polluted":true},"orderId":1}');
    assert.notEqual(eventId(proto), eventId({ orderId: 1 }), 'a "__proto__" key is part of the identity');
  });

  test('generated objects: the first-key-wins value, and JSON.parse’s wherever no key repeats', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = random(seed);
      // A JSON text with repeated keys, and the value SPEC reads from it (first occurrence wins).
      const build = (depth: number): [string, unknown] => {
        const kind = depth > 3 ? r.int(4) : r.int(6);
        if (kind === 0) return [JSON.stringify(r.int(1000) - 500 + (r.next() < 0.3 ? 0.25 : 0)), null];
        if (kind === 1) { const s = r.pick(['a', 'é"\\', '\u0000x', '']); return [JSON.stringify(s), s]; }
        if (kind === 2) return [r.pick(['true', 'false', 'null']), null];
        if (kind === 3) return ['[]', []];
        if (kind === 4) {
          const items = Array.from({ length: r.int(4) }, () => build(depth + 1));
          return [`[${items.map(([t]) => t).join(', ')}]`, items.map(([t, v]) => (v === null ? JSON.parse(t) : v))];
        }
        const members = Array.from({ length: r.int(5) }, () => [r.pick(['a', 'b', 'c', '__proto__', '1', '10']), ...build(depth + 1)] as const);
        const value: Record<string, unknown> = {};
        for (const [key, t, v] of members) if (!Object.hasOwn(value, key)) Object.defineProperty(value, key, { value: v === null ? JSON.parse(t) : v, enumerable: true, writable: true, configurable: true });
        return [`{${members.map(([k, t]) => `${JSON.stringify(k)}:${t}`).join(r.pick([',', ' , ', ',\n']))}}`, value];
      };
      const [text, expected] = build(0);
      const parsed = parseJson(text);
      assert.equal(parsed.error, undefined, text);
      assert.deepEqual(parsed.value, expected === null ? JSON.parse(text) : expected, text);
      assert.equal(canonicalJson(parsed.value), canonicalJson(expected === null ? JSON.parse(text) : expected), text);
      if (!/"(\w*)":.*"\1":/s.test(text)) assert.deepEqual(parsed.value, JSON.parse(text), text);
    }
  });

  test('canonical JSON sorts every key as a string, numeric-looking keys included', () => {
    assert.equal(canonicalJson(JSON.parse('{"9":1,"10":2,"b":{"2":0,"10":0},"a":null}')), '{"10":2,"9":1,"a":null,"b":{"10":0,"2":0}}');
  });
});

describe('the source attribute: a local file is identified as fully as a bucket object', () => {
  test('file:// URL of the real path: the same file from anywhere is one source, two files of one name are two', () => {
    mkdirSync(path.join(temp, 'a'), { recursive: true });
    mkdirSync(path.join(temp, 'b'), { recursive: true });
    const [a, b] = [path.join(temp, 'a', 'notjson.txt'), path.join(temp, 'b', 'notjson.txt')];
    writeFileSync(a, 'not json\n');
    writeFileSync(b, 'not json\n');
    symlinkSync(a, path.join(temp, 'link.txt'));
    assert.match(localSourceName(a), /^file:\/\/\/.*\/a\/notjson\.txt$/);
    assert.notEqual(localSourceName(a), localSourceName(b));
    assert.equal(localSourceName(path.relative(process.cwd(), a)), localSourceName(a));
    assert.equal(localSourceName(path.join(temp, 'link.txt')), localSourceName(a));
    assert.equal(localSourceName(path.join(temp, 'dir with space', '100%.json')), `file://${temp.split(path.sep).map(encodeURIComponent).join('/')}/dir%20with%20space/100%25.json`);
  });

  test('two bad files of the same name are two rejects; loading one of them again adds none', async () => {
    const workdir = path.join(temp, 'same-name');
    for (const dir of ['a', 'b', 'a']) await cliOk(['load', path.join(temp, dir, 'notjson.txt'), '--workdir', workdir], temp);
    await cliOk(['transform', '--workdir', workdir], temp);
    const rejects = JSON.parse((await cliOk(['query', 'SELECT reason, source_uri, position FROM chat_models.rejected_events ORDER BY source_uri', '--workdir', workdir, '--json'], temp)).stdout);
    assert.deepEqual(rejects, [
      { reason: 'invalid_json', source_uri: localSourceName(path.join(temp, 'a', 'notjson.txt')), position: 1 },
      { reason: 'invalid_json', source_uri: localSourceName(path.join(temp, 'b', 'notjson.txt')), position: 1 },
    ]);
  });
});
