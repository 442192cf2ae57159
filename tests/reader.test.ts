import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import os from 'node:os';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import { canonicalJson, eventId } from '../orchestrator/events/eventId.js';
import { openSourceFile, readRecords } from '../orchestrator/events/reader.js';
import { anchorPath } from './support/pipeline.js';

async function read(text: string | string[]) {
  const out: { text: string; position: number; line: number; ok: boolean }[] = [];
  for await (const r of readRecords(Readable.from(Array.isArray(text) ? text : [text]))) {
    out.push({ text: r.text, position: r.position, line: r.line, ok: r.error === undefined });
  }
  return out;
}

describe('reading source files in the three shapes', () => {
  test('NDJSON: blank lines ignored, last line without newline, a bad line rejected alone', async () => {
    const records = await read('{"a":1}\n\n  {"b": 2}  \nnot json, {at all\n{"c":3}');
    assert.deepEqual(records.map((r) => [r.text, r.position, r.line, r.ok]), [
      ['{"a":1}', 1, 1, true], ['{"b": 2}', 2, 3, true], ['not json, {at all', 3, 4, false], ['{"c":3}', 4, 5, true],
    ]);
  });

  test('NDJSON: a truncated line does not swallow the next one', async () => {
    const records = await read('{"a":1\n{"b":2}\n');
    assert.deepEqual(records.map((r) => [r.text, r.ok]), [['{"a":1', false], ['{"b":2}', true]]);
  });

  test('a JSON array, pretty-printed, split across chunks, with brackets inside strings', async () => {
    const text = '[\n  {\n    "a": "x]}",\n    "b": [1, 2]\n  },\n  {"c": "\\"]"}\n]\n';
    const chunks = text.match(/.{1,3}/gs)!;
    const records = await read(chunks);
    assert.deepEqual(records.map((r) => [JSON.parse(r.text), r.position, r.line]), [
      [{ a: 'x]}', b: [1, 2] }, 1, 2], [{ c: '"]' }, 2, 6],
    ]);
  });

  test('a minified array on one line is split record by record, across chunks of any size', async () => {
    const events = Array.from({ length: 2000 }, (_, i) => ({ orderId: i + 1, cityCode: `C${i}`, note: 'a ] } [ { " \\' }));
    const text = JSON.stringify(events);
    const chunks = text.match(/[\s\S]{1,997}/g)!;
    const records = await read(chunks);
    assert.equal(records.length, 2000);
    assert.deepEqual(records.map((r) => JSON.parse(r.text)), events);
  });

  test('objects one after another, separated by whitespace and commas', async () => {
    const records = await read('{\n  "a": 1\n},\n{\n  "b": 2\n}\n\n{"c": 3} {"d": 4}');
    assert.deepEqual(records.map((r) => JSON.parse(r.text)), [{ a: 1 }, { b: 2 }, { c: 3 }, { d: 4 }]);
  });

  test('values that are not objects are still records (staging rejects them)', async () => {
    assert.deepEqual((await read('[1, "x", null, {"a": 1}]')).map((r) => r.text), ['1', '"x"', 'null', '{"a": 1}']);
  });

  test('the anchors: record counts match what their authors state', async () => {
    const count = async (file: string) => {
      let n = 0;
      for await (const r of readRecords((await openSourceFile(anchorPath(file))).stream)) { assert.equal(r.error, undefined); n++; }
      return n;
    };
    assert.equal(await count('seed-conversations.json'), 1801);
    assert.equal(await count('seed-conversations.older.json'), 1830);
    assert.equal(await count('order-event-last.json'), 94);
    assert.equal(await count('glovo/customer_courier_chat_messages.json'), 2500);
    assert.equal(await count('glovo/orders.json'), 600);
  });

  test('a missing file, a folder or a device is a clear error', async () => {
    await assert.rejects(openSourceFile('/nonexistent/file.json'), /input file not found: \/nonexistent\/file.json/);
    await assert.rejects(openSourceFile(os.tmpdir()), new RegExp(`${os.tmpdir()} is a folder, not a file`));
    await assert.rejects(openSourceFile('/dev/null'), /\/dev\/null is not a regular file/);
  });
});

describe('event identity', () => {
  test('canonical JSON sorts keys recursively and drops whitespace', () => {
    assert.equal(canonicalJson(JSON.parse('{ "b": [ {"z": 1, "y": 2} ], "a": "x" }')), '{"a":"x","b":[{"y":2,"z":1}]}');
  });

  test('event_id is the SHA-256 hex of the canonical JSON, whatever the formatting', () => {
    const expected = createHash('sha256').update('{"cityCode":"BCN","orderId":1}').digest('hex');
    assert.equal(eventId({ orderId: 1, cityCode: 'BCN' }), expected);
    assert.equal(eventId(JSON.parse('{\n  "cityCode" : "BCN",\n  "orderId" : 1\n}')), expected);
    assert.notEqual(eventId({ orderId: 1, cityCode: 'MAD' }), expected);
  });
});
