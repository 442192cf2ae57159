import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
// An XML parser already in the dependency tree (of @google-cloud/storage): the report is written as
// well-formed XML too, so a strict parser can check every tag and entity.
import { XMLValidator } from 'fast-xml-parser';
import { reportQueries } from '../orchestrator/report/data.js';
import { escapeHtml } from '../orchestrator/report/html.js';
import { textValue } from '../orchestrator/output/format.js';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import { Timestamp } from '../orchestrator/warehouse/warehouse.js';
import { HOSTILE_CITY, handWorkedDeliveries } from './support/analytics.js';
import { assertCleanError, cli, cliOk } from './support/cli.js';
import { FakeGoogleApis } from './support/fakeGoogle.js';
import { message, order } from './support/fixtures.js';
import { type LocalPipeline, anchorPath, delivery, pipelineFactory } from './support/pipeline.js';

// `orchestrator report` on a warehouse whose numbers are known (tests/support/analytics.ts), on an
// empty one, from BigQuery (a recording endpoint answering jobs.query), and after `up`.
process.env.METADATA_SERVER_DETECTION = 'none';
const pipeline = pipelineFactory();
const cwd = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-report-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

/** The hand-worked warehouse plus a city whose code is the label of conversations without a city. */
async function knownWarehouse(): Promise<LocalPipeline> {
  const p = pipeline();
  await p.append([
    ...handWorkedDeliveries(),
    // Answered after 600 s.
    delivery(message(9, 'courier', '2024-02-02T11:00:00Z'), '2024-03-01T10:00:00Z'), delivery(message(9, 'customer', '2024-02-02T11:10:00Z'), '2024-03-01T10:00:01Z'),
    delivery(order(9, '(no city yet)'), '2024-03-01T10:00:02Z'),
  ]);
  await p.transform();
  return p;
}

/** Every HTML page must pass these: well-formed, self-contained, nothing executable. */
function assertSelfContained(html: string): void {
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- its successor is a separate package (fast-xml-validator); this one still validates
  assert.equal(XMLValidator.validate(html), true, 'well-formed');
  assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
  for (const [pattern, what] of [[/https?:\/\//i, 'a URL'], [/\b(src|href|xlink:href)\s*=/i, 'a src or href'], [/@import/i, 'an @import'], [/url\(/i, 'a url()'],
    [/<(script|link|iframe|img|object|embed|base)\b/i, 'an element that loads or runs something'], [/\bon[a-z]+\s*=/i, 'an event handler']] as const) {
    assert.doesNotMatch(html, pattern, `no ${what}`);
  }
  assert.doesNotMatch(html, /[^\t\n\x20-\x7e\xa0-\ud7ff\ue000-\ufdcf\ufdf0-\ufffd\u{10000}-\u{10ffff}]/u, 'only characters both XML and HTML take as text');
}

/** The headline cards: label -> value. */
function cards(html: string): Record<string, string> {
  return Object.fromEntries([...html.matchAll(/<div class="label">([^<]*)<\/div><div class="value">([^<]*)<\/div><div class="detail">([^<]*)<\/div>/g)]
    .map((m) => [m[1], `${m[2]} (${m[3]})`]));
}

describe('orchestrator report', () => {
  let p: LocalPipeline;
  let html: string;
  before(async () => {
    p = await knownWarehouse();
  });

  test('a known warehouse: the headline numbers, five charts as SVG, the time range, one well-formed file with no external reference', async () => {
    const output = path.join(cwd, 'known.html');
    const result = await cliOk(['report', '--workdir', p.workdir.dir, '--output', output, '--json'], cwd);
    const json = JSON.parse(result.stdout) as { output: string; bytes: number; summary: Record<string, unknown> };
    assert.equal(json.output, output);
    html = readFileSync(output, 'utf8');
    assert.equal(json.bytes, Buffer.byteLength(html));
    assertSelfContained(html);
    // Nine conversations, six answered after 30, 45, 60, 120, 300 and 600 s: median 60 s (3 of 6),
    // p90 600 s (5 of 6 is 83%), mean 192.5 s; 17 messages.
    assert.deepEqual(json.summary, {
      conversations: 9, answered: 6, answeredShare: 0.6667, medianSeconds: 60, p90Seconds: 600, meanSeconds: 192.5, messagesPerConversation: 1.89,
      cities: 5, firstConversationStartedAt: '2024-02-01T10:00:00.000Z', lastConversationStartedAt: '2024-02-02T12:00:00.000Z', lastPublishedAt: '2024-03-01T10:00:02.000Z',
    });
    assert.deepEqual(cards(html), {
      'Conversations': '9 (in 5 cities)', 'Answered': '66.7% (6 of 9)', 'Never answered': '33.3% (3 conversations)', 'Messages per chat': '1.89 (both sides)',
      'Median first answer': '1 min (60 s)', '90% answered within': '10 min (600 s)', 'Mean first answer': '3 min (192.5 s, pulled up by slow answers)',
      'Latest conversation': '2024-02-02 (2024-02-02 12:00 UTC)',
    });
    assert.match(html, /Conversations started from 2024-02-01 10:00 UTC to 2024-02-02 12:00 UTC; latest event published 2024-03-01 10:00 UTC\. Built \d{4}-\d\d-\d\d \d\d:\d\d UTC from local warehouse /);

    const svgs = [...html.matchAll(/<div class="chart">(<svg[\s\S]*?<\/svg>)<\/div>/g)].map((m) => m[1]);
    assert.equal(svgs.length, 5, 'five charts');
    const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    const [cityDelay, unanswered, dailyDelay, volume, distribution] = svgs.map(texts) as [string[], string[], string[], string[], string[]];
    for (const city of ['BCN', 'ONE', 'UNA', '(no city yet)', '(no city yet)*']) assert.ok(cityDelay.includes(city), `the city chart names ${city}: ${cityDelay.join('|')}`);
    assert.ok(cityDelay.includes('no answer (1)'), 'cities whose chats were never answered say so');
    assert.ok(cityDelay.some((t) => t.startsWith('&lt;script&gt;')), 'a hostile city code is text in the chart');
    assert.ok(unanswered.includes('2 of 2') && unanswered.includes('1 of 3'), `unanswered counts: ${unanswered.join('|')}`);
    assert.ok(dailyDelay.includes('minutes until the first answer'));
    assert.ok(volume.includes('conversations per day'));
    for (const bucket of ['30-60 s', '1-2 min', '2-5 min', '5-10 min', '10-15 min']) assert.ok(distribution.includes(bucket), `bucket ${bucket}`);

    // The city table: every city, by who waited, the hostile code escaped and the missing city told apart.
    assert.ok(html.includes(`<td class="city">${escapeHtml(HOSTILE_CITY)}</td>`));
    assert.ok(!html.includes(HOSTILE_CITY.slice(0, 8)), 'no raw markup from the data');
    assert.match(html, /<td class="city">\(no city yet\)\*<\/td><td>courier waited<\/td><td>1<\/td><td>100\.0%<\/td><td>300 s<\/td>/);
    assert.match(html, /<td class="city">BCN<\/td><td>customer waited<\/td><td>2<\/td><td>100\.0%<\/td><td>60 s<\/td><td>120 s<\/td><td>90 s<\/td><td>2\.50<\/td>/);
  });

  test('an empty warehouse: a valid page that says there is nothing to show yet', async () => {
    const empty = pipeline();
    await empty.transform();
    const output = path.join(cwd, 'empty.html');
    await cliOk(['report', '--workdir', empty.workdir.dir, '--output', output], cwd);
    const page = readFileSync(output, 'utf8');
    assertSelfContained(page);
    assert.match(page, /Nothing to show yet/);
    assert.doesNotMatch(page, /<svg/);
    assert.equal(cards(page).Conversations, '0 (in 0 cities)');
  });

  test('user errors: no warehouse, models not built yet; and --help', async () => {
    assertCleanError(await cli(['report', '--workdir', path.join(cwd, 'nothing-here')], cwd), /no local warehouse at .*warehouse\.duckdb/);
    const raw = pipeline();
    await raw.append(handWorkedDeliveries().slice(0, 1));
    assertCleanError(await cli(['report', '--workdir', raw.workdir.dir], cwd), /the analytics models are not in .* yet: run 'orchestrator transform' first/);
    const help = await cliOk(['report', '--help'], cwd);
    assert.match(help.stdout, /--output/);
    assert.match(help.stdout, /--target/);
  });

  test('--target gcp: the same report from the BigQuery tables, with the exact jobs.query requests', async () => {
    const fake = new FakeGoogleApis();
    const endpoint = await fake.start();
    const warehouse = await openLocalWarehouse(p.project, p.workdir, true);
    // BigQuery here is the known warehouse behind the REST API: each query runs on it (project
    // renamed), and its rows come back typed as jobs.query returns them.
    fake.onQuery = async (body: { query: string }) => {
      const sql = body.query.replaceAll('`chat-pipeline-test.', `\`${p.project.database}.`);
      const types = (await warehouse.query(`DESCRIBE ${sql}`)).rows.map((r) => textValue(r.column_type));
      const result = await warehouse.query(sql);
      const type = (duck: string) => ({ BIGINT: 'INTEGER', HUGEINT: 'INTEGER', DOUBLE: 'FLOAT', DATE: 'DATE', VARCHAR: 'STRING', 'TIMESTAMP WITH TIME ZONE': 'TIMESTAMP' })[duck] ?? `unknown ${duck}`;
      return {
        fields: result.columns.map((name, i) => ({ name, type: type(types[i]) })),
        rows: result.rows.map((row) => result.columns.map((c) => {
          const v = row[c] ?? null;
          return v === null ? null : v instanceof Timestamp ? v.micros.toString() : String(v);
        })),
      };
    };
    try {
      const output = path.join(cwd, 'gcp.html');
      await cliOk(['report', '--target', 'gcp', '--project', 'chat-pipeline-test', '--output', output], cwd, { ORCHESTRATOR_BIGQUERY_ENDPOINT: endpoint });
      const page = readFileSync(output, 'utf8');
      assertSelfContained(page);
      assert.match(page, /Built \d{4}-\d\d-\d\d \d\d:\d\d UTC from BigQuery chat-pipeline-test\.chat_models\./);
      const withoutBuilt = (text: string) => text.replace(/ Built [^<]*<\/p>/, '</p>');
      assert.equal(withoutBuilt(page), withoutBuilt(html), 'the same page as from the local warehouse');

      const queries = reportQueries((name) => `\`chat-pipeline-test.chat_models.${name}\``);
      assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.path}`), Array(4).fill('POST /bigquery/v2/projects/chat-pipeline-test/queries'), 'one jobs.query per query, nothing else');
      const bodies = fake.requests.map((r) => r.body as Record<string, unknown>);
      assert.deepEqual(bodies.map((b) => b.query), [queries.summary, queries.byCity, queries.daily, queries.distribution]);
      for (const body of bodies) {
        assert.deepEqual({ ...body, requestId: undefined }, {
          query: body.query, useLegacySql: false, location: 'EU', formatOptions: { useInt64Timestamp: true }, requestId: undefined,
          labels: { pipeline: 'chat-elt-pipeline', step: 'report' },
        });
        assert.match(String(body.requestId), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      }
      assert.equal(new Set(bodies.map((b) => b.requestId)).size, 4, 'each request has its own id (retries are deduplicated by it)');
    } finally {
      await warehouse.close();
      fake.stop();
    }
  });
});

describe('any string a city code can hold is shown as what it is', () => {
  test('separators, controls, direction marks, quotes, backslashes and expression syntax: the report is built and names each city', async () => {
    // Vega-Lite once turned the cities' order into expression text, which Vega's parser rejects for
    // U+2028 and U+2029 ("Unexpected token ILLEGAL"): the whole report, and so `up`, failed. What a
    // page cannot show (controls, separators, direction marks, noncharacters) is shown escaped; a
    // label another city already has gets a star.
    const cities: [code: string, shown: string][] = [
      ['A\u2028B', 'A\\u2028B'], ['C\u2029D\u007f', 'C\\u2029D\\u007f'], ['E\u0085F', 'E\\u0085F'], ['n\u0000\u0001', 'n\\u0000\\u0001'],
      ['a\nb\r\tc', 'a\\nb\\r\\tc'], ['rtl\u202eab\u2066', 'rtl\\u202eab\\u2066'], ['x\uffff\u{10fffe}', 'x\\uffff\\u{10fffe}'],
      // (A code of white space alone, such as a lone U+2028, is rejected as invalid_city_code: TRIM leaves nothing.)
      ['x\\u2028', 'x\\u2028'], ['x\u2028', 'x\\u2028*'], [`q'"\\$\{}[].`, `q'"\\$\{}[].`], ['"+datum.x+"', '"+datum.x+"'], ["'];x=[('", "'];x=[('"],
      ['datum["city"]', 'datum["city"]'], ['emoji\u{1f600}', 'emoji\u{1f600}'],
    ];
    const p = pipeline();
    await p.append(cities.flatMap(([code], i) => [
      delivery(order(500 + i, code), `2024-03-01T10:00:${10 + i}Z`),
      delivery(message(500 + i, 'courier', '2024-02-01T10:00:00Z'), `2024-03-01T10:01:${10 + i}Z`),
      ...(i % 2 ? [delivery(message(500 + i, 'customer', '2024-02-01T10:01:00Z'), `2024-03-01T10:02:${10 + i}Z`)] : []),
    ]));
    await p.transform();
    const output = path.join(cwd, 'cities.html');
    await cliOk(['report', '--workdir', p.workdir.dir, '--output', output], cwd);
    const page = readFileSync(output, 'utf8');
    assertSelfContained(page);
    assert.equal(cards(page).Conversations, `${cities.length} (in ${cities.length} cities)`);
    // One conversation each: the cities come in label order, in the table and down both city charts
    // (labels short enough for the charts' 160 px: longer ones end in an ellipsis there).
    const shown = cities.map(([, label]) => label).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const tableCities = [...page.matchAll(/<td class="city">([^<]*)<\/td>/g)].map((m) => m[1]);
    assert.deepEqual(tableCities, shown.map(escapeHtml));
    const svgs = [...page.matchAll(/<div class="chart">(<svg[\s\S]*?<\/svg>)<\/div>/g)].map((m) => m[1]);
    const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    for (const svg of svgs.slice(0, 2)) assert.deepEqual(texts(svg).filter((t) => shown.includes(t)), shown, 'each city once, in order');
  });
});

describe('up writes the report and says where it is', () => {
  test('after a run, the last lines name the report, which is there and valid', async () => {
    const workdir = path.join(cwd, 'up');
    const result = await cliOk(['up', '--input', anchorPath('glovo-sample.ndjson'), '--workdir', workdir], cwd);
    const file = /\n\nreport: (.+report\.html)\n$/.exec(result.stdout)?.[1];
    assert.ok(file, result.stdout);
    assert.equal(file, path.join(workdir, 'report.html'));
    assert.ok(existsSync(file));
    const page = readFileSync(file, 'utf8');
    assertSelfContained(page);
    assert.equal(cards(page).Conversations, '2 (in 2 cities)', 'the sample: two chats, in BCN and MAD');
  });
});
