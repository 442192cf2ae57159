// Hostile input and careless use of the CLI: SQL that tries to write or read files, broken pipes,
// flags out of range, selections that match nothing, work directories that are not folders.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PACKAGE_ROOT } from '../orchestrator/config.js';
import { RUN_VARS } from '../orchestrator/commands/common.js';
import { assertCleanError, cli as runCli, cliOk, spawnCli, type CliResult } from './support/cli.js';
import { anchorPath } from './support/pipeline.js';

const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-hostile-'));
after(() => rmSync(temp, { recursive: true, force: true }));
const workdir = path.join(temp, 'state');
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, temp, env);
const query = (sql: string, ...flags: string[]) => cli(['query', sql, '--workdir', workdir, ...flags]);

/** One line on stderr, a non-zero exit (2 for a bad flag), no stack trace. */
function assertOneLineError(result: CliResult, pattern: RegExp, exitCode?: number): void {
  assertCleanError(result, pattern);
  assert.equal(result.stderr.trimEnd().split('\n').length, 1, `one line, got:\n${result.stderr}`);
  if (exitCode !== undefined) assert.equal(result.code, exitCode, result.stderr);
}

async function orderCount(): Promise<number> {
  const result = await cliOk(['query', 'SELECT COUNT(*) AS n FROM chat_models.orders', '--workdir', workdir, '--json'], temp);
  return JSON.parse(result.stdout)[0].n;
}

before(async () => {
  // Loaded twice: 3,602 raw rows, more than one DuckDB chunk (2,048 rows) to export.
  await cliOk(['load', anchorPath('seed-conversations.json'), '--workdir', workdir], temp);
  await cliOk(['load', anchorPath('seed-conversations.json'), '--workdir', workdir], temp);
  await cliOk(['transform', '--workdir', workdir], temp);
});

describe('query runs one read-only SELECT and nothing else', () => {
  test('it cannot write the warehouse, whatever the SQL', async () => {
    const file = path.join(workdir, 'warehouse.duckdb');
    const attempts = [
      'DELETE FROM chat_models.orders',
      'DROP TABLE chat_models.orders',
      'CREATE TABLE chat_models.x AS SELECT 1',
      `USE memory; DETACH "chat-pipeline-local"; ATTACH '${file}' AS rw; DROP TABLE rw.chat_models.orders`,
      `ATTACH '${file}' AS rw`,
      'DETACH "chat-pipeline-local"',
      'USE memory',
      // Closing a bracket the command might have wrapped the query in.
      'SELECT 1) AS t; DROP TABLE chat_models.orders; SELECT * FROM (SELECT 1',
      'SELECT 1; DROP TABLE chat_models.orders',
    ];
    for (const sql of attempts) {
      const result = await query(sql);
      assertOneLineError(result, /^orchestrator: query failed: /, 1);
      assert.equal(result.stdout, '', sql);
    }
    assert.equal(await orderCount(), 400, 'the table is still there, unchanged');
  });

  test('it takes exactly one statement', async () => {
    assertOneLineError(await query('SELECT 1; SELECT 2'), /one statement at a time, got 2/);
    const single = await query('SELECT 1 AS one;  -- a trailing semicolon and comment are one statement', '--json');
    assert.equal(single.code, 0, single.stderr);
    assert.deepEqual(JSON.parse(single.stdout), [{ one: 1 }]);
  });

  test('no statement at all (blank, only comments or semicolons) is one clear line with exit 2', async () => {
    for (const sql of ['', '   ', '/* c */', '\n-- only a comment', ' ; ;']) {
      assertOneLineError(await query(sql), /no SQL statement given/, 2);
    }
    // A statement that does not parse is still DuckDB's own message.
    assertOneLineError(await query('SELEC 1'), /query failed: .*syntax error at or near "SELEC"/, 1);
  });

  test('columns that share a name each show their own value; --json keys the repeats name_2, name_3', async () => {
    const literal = await query('SELECT 1 AS "a", 2 AS "a", 3 AS "a", 4 AS a_2');
    assert.equal(literal.code, 0, literal.stderr);
    assert.equal(literal.stdout, 'a  a  a  a_2\n-  -  -  ---\n1  2  3  4\n(1 row)\n');
    const literalJson = await query('SELECT 1 AS "a", 2 AS "a", 3 AS "a", 4 AS a_2', '--json');
    assert.equal(literalJson.code, 0, literalJson.stderr);
    // a_2 is another column's own name: the repeats skip it, so no key is written twice.
    assert.deepEqual(JSON.parse(literalJson.stdout), [{ a: 1, a_3: 2, a_4: 3, a_2: 4 }]);
    assert.deepEqual(Object.keys(JSON.parse(literalJson.stdout)[0]), ['a', 'a_3', 'a_4', 'a_2'], 'keys in column order');

    // A join whose right side never matches: each row has its order id on the left, NULL on the right.
    const join = 'FROM chat_models.customer_courier_conversations c LEFT JOIN chat_models.orders o ON o.order_id = c.order_id + 1 ORDER BY c.order_id';
    const expected = JSON.parse((await cliOk(['query', `SELECT c.order_id ${join}`, '--workdir', workdir, '--json', '--limit', '3'], temp)).stdout) as { order_id: number }[];
    assert.equal(expected.length, 3);
    const table = await query(`SELECT c.order_id, o.order_id ${join}`, '--limit', '3');
    assert.equal(table.code, 0, table.stderr);
    assert.deepEqual(table.stdout.split('\n').slice(2, 5), expected.map((r) => `${r.order_id}  NULL`));
    const json = await query(`SELECT c.order_id, o.order_id ${join}`, '--limit', '3', '--json');
    assert.deepEqual(JSON.parse(json.stdout), expected.map((r) => ({ order_id: r.order_id, order_id_2: null })));
    const star = await query(`SELECT * ${join}`, '--limit', '3', '--json');
    const starRows = JSON.parse(star.stdout) as Record<string, unknown>[];
    assert.deepEqual(starRows.map((r) => [r.order_id, r.order_id_2]), expected.map((r) => [r.order_id, null]), 'SELECT *: c.order_id, then o.order_id');
  });

  test('it cannot read or write files, reach the network, or change settings', async () => {
    const secret = path.join(temp, 'secret.csv');
    writeFileSync(secret, 'token\nsecret-value-42\n');
    const written = path.join(temp, 'copied.csv');
    for (const sql of [
      `SELECT * FROM read_csv('${secret}')`,
      `SELECT * FROM '${secret}'`,
      `SELECT content FROM read_text('${secret}')`,
      `SELECT * FROM glob('${temp}/*')`,
      `COPY (SELECT 1) TO '${written}'`,
      `COPY chat_models.orders TO '${written}'`,
      `EXPORT DATABASE '${temp}/dump'`,
    ]) {
      const result = await query(sql);
      assertOneLineError(result, /query failed: /, 1);
      assert.doesNotMatch(result.stdout + result.stderr, /secret-value-42/, sql);
    }
    assert.equal(existsSync(written), false, 'COPY wrote nothing');
    assert.equal(existsSync(path.join(temp, 'dump')), false);
    for (const sql of ['INSTALL httpfs', 'LOAD httpfs', "SELECT * FROM read_parquet('https://example.com/x.parquet')"]) {
      const result = await query(sql);
      assertOneLineError(result, /query failed: /, 1);
      assert.doesNotMatch(result.stderr, /download|establish connection/i, 'no network attempt');
    }
    for (const sql of ["SET memory_limit = '100GB'", 'SET enable_external_access = true', "PRAGMA memory_limit = '100GB'", 'RESET lock_configuration']) {
      assertOneLineError(await query(sql), /query failed: /, 1);
    }
  });

  test('dataset.table and backticked project.dataset.table names resolve; reads are fine', async () => {
    const result = await query("SELECT COUNT(*) AS n FROM `chat-pipeline-local.chat_models.orders` JOIN chat_models.customer_courier_conversations USING (order_id)", '--json');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), [{ n: 400 }]);
    for (const sql of ['WITH t AS (SELECT 2 AS x) SELECT x FROM t', 'FROM chat_models.orders SELECT order_id LIMIT 1', 'DESCRIBE chat_models.orders', 'SHOW TABLES']) {
      assert.equal((await query(sql)).code, 0, sql);
    }
  });

  test('--limit bounds the rows and says when more exist; bad values are one clear line', async () => {
    const result = await query('SELECT * FROM range(10) AS t(i) ORDER BY i', '--limit', '3');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^i\n-\n0\n1\n2\n\(3 rows shown; more with a higher --limit\)\n$/);
    const exact = await query('SELECT * FROM range(3) AS t(i)', '--limit', '3');
    assert.match(exact.stdout, /\(3 rows\)\n$/);
    for (const bad of ['abc', '-1', '1.5']) {
      assertOneLineError(await query('SELECT 1', '--limit', bad), /--limit must be a whole number >= 0/, 2);
    }
  });

  test('control characters in values, column names and errors are escaped, never sent to the terminal', async () => {
    const result = await query(`SELECT 'a' || chr(27) || '[2J' || chr(10) || chr(13) || chr(7) || chr(92) || chr(155) || chr(8238) AS "x\u0007y"`);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /a\\u001b\[2J\\n\\r\\u0007\\\\\\u009b\\u202e/);
    assert.match(result.stdout, /^x\\u0007y/);
    // eslint-disable-next-line no-control-regex -- asserts that no raw control character gets through
    assert.doesNotMatch(result.stdout, /[\x00-\x09\x0b-\x1f\x7f-\x9f\u202e]/, 'only the table newlines are raw');
    const failed = await query(`SELECT CAST('x' || chr(27) || '[31m' AS INTEGER)`);
    assertOneLineError(failed, /query failed: .*\\u001b\[31m/);
    // eslint-disable-next-line no-control-regex -- asserts that no raw escape character gets through
    assert.doesNotMatch(failed.stderr, /\x1b/);
  });
});

describe('memory: from the machine, a flag or the environment', () => {
  const setting = async (flags: string[], env: Record<string, string> = {}) => {
    const result = await cli(['query', "SELECT current_setting('memory_limit') AS m, current_setting('temp_directory') AS t", '--workdir', workdir, '--json', ...flags], env);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout)[0] as { m: string; t: string };
  };
  const gib = (text: string) => {
    const match = /^([\d.]+) (MiB|GiB)$/.exec(text);
    assert.ok(match, text);
    return Number(match[1]) / (match[2] === 'MiB' ? 1024 : 1);
  };

  test('default for query (a sandbox, which cannot raise its limit later): the ceiling, half of the physical memory or the cgroup limit, spilling inside the work directory', async () => {
    const { m, t } = await setting([], { ORCHESTRATOR_DUCKDB_MEMORY: '' });
    const constrained = process.constrainedMemory();
    const machine = constrained > 0 ? Math.min(os.totalmem(), constrained) : os.totalmem();
    assert.ok(Math.abs(gib(m) - machine / 2 / 1024 ** 3) < 0.1, `${m} is half of ${machine} bytes`);
    assert.equal(t, path.join(workdir, 'duckdb-tmp'));
  });

  test('--memory and $ORCHESTRATOR_DUCKDB_MEMORY set it; the flag wins; bad sizes are one clear line', async () => {
    assert.equal((await setting(['--memory', '1GB'])).m, '953.6 MiB');
    assert.equal((await setting([], { ORCHESTRATOR_DUCKDB_MEMORY: '2GiB' })).m, '2.0 GiB');
    assert.equal((await setting(['--memory', '3GiB'], { ORCHESTRATOR_DUCKDB_MEMORY: '2GiB' })).m, '3.0 GiB');
    assertOneLineError(await query('SELECT 1', '--memory', 'lots'), /--memory must be a size such as 4GB/, 2);
    assertOneLineError(await query('SELECT 1', '--memory', '-1GB'), /--memory must be a size such as 4GB or 512MB, got "" \(a value starting with '-' is read as flags: write --memory=VALUE\)/, 2);
    assertOneLineError(await query('SELECT 1', '--memory=-1GB'), /--memory must be a size such as 4GB or 512MB, got "-1GB"/, 2);
    assertOneLineError(await cli(['query', 'SELECT 1', '--workdir', workdir], { ORCHESTRATOR_DUCKDB_MEMORY: '12' }), /ORCHESTRATOR_DUCKDB_MEMORY must be a size/, 1);
  });
});

describe('a reader that stops early ends the command quietly', () => {
  /** Reads the first chunk of stdout, then closes the pipe, as `| head -1` does. */
  const headOne = (args: string[]) => new Promise<CliResult>((resolve, reject) => {
    const child = spawnCli(args, temp);
    let stdout = '';
    let stderr = '';
    child.stdout!.once('data', (chunk: Buffer) => { stdout = chunk.toString(); child.stdout!.destroy(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

  // Each output is far larger than a pipe's buffer, so the command must write after the pipe closed.
  for (const [name, args] of [
    ['query --json', ['query', "SELECT repeat('x', 1000) AS x FROM range(20000)", '--limit', '20000', '--json']],
    ['query, table', ['query', "SELECT i, repeat('x', 50) AS x FROM range(20000) AS t(i)", '--limit', '20000']],
    ['export, NDJSON', ['export', 'stg_events']],
    ['export, CSV', ['export', 'stg_events', '--format', 'csv']],
  ] as const) {
    test(name, async () => {
      const result = await headOne([...args, '--workdir', workdir]);
      assert.ok(result.stdout.length > 0);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
    });
  }
});

describe('flags are checked before anything runs', () => {
  test('out-of-range numbers are one clear line with exit 2', async () => {
    for (const [args, pattern] of [
      [['sink', '--until-idle', '--idle-seconds', '-1'], /--idle-seconds must be a positive number, got -1/],
      [['generate', '--conversations', 'abc', '--output', path.join(temp, 'x.ndjson')], /--conversations must be a whole number >= 1/],
      [['generate', '--conversations', '5', '--late', '2', '--output', path.join(temp, 'x.ndjson')], /--late must be a number from 0 to 1/],
      [['ingest', '--input', 'x.ndjson', '--replay-speed', '0'], /--replay-speed must be a positive number/],
      [['check', '--cost', '--block-mb', '-5'], /--block-mb must be a positive number/],
      [['provision', '--target', 'gcp', '--partition-expiration-days', '0'], /--partition-expiration-days must be a whole number >= 1/],
    ] as const) {
      assertOneLineError(await cli([...args, '--workdir', workdir]), pattern, 2);
    }
    assert.equal(existsSync(path.join(temp, 'x.ndjson')), false);
  });

  test('--vars: unknown names, values with = and repeated names are refused; a bad value is one line', async () => {
    assertOneLineError(await cli(['transform', '--vars', 'lookbackMinutes=-5', '--workdir', workdir]), /unknown var lookbackMinutes; a run can set horizonDays/, 2);
    assertOneLineError(await cli(['transform', '--vars', 'horizonDays=1=2', '--workdir', workdir]), /no '=' or ',' in a value; got "horizonDays=1=2"/, 2);
    assertOneLineError(await cli(['transform', '--vars', 'horizonDays=', '--workdir', workdir]), /key=value pairs/, 2);
    assertOneLineError(await cli(['check', '--vars', 'horizonDays=3,horizonDays=4', '--workdir', workdir]), /horizonDays is given twice/, 2);
    assertOneLineError(await cli(['transform', '--vars', 'engine=duckdb', '--workdir', workdir]), /unknown var engine/, 2);
    assertOneLineError(await cli(['status', '--workdir', '']), /--workdir must name a folder, got an empty value/, 2);
    assertOneLineError(await cli(['test', '--vars', 'rawDataset=elsewhere', '--workdir', workdir]), /unknown var rawDataset/, 2);
    assertOneLineError(await cli(['transform', '--vars', 'horizonDays=-5', '--workdir', workdir]), /--vars: horizonDays must be a whole number below 2\^53, got "-5"/, 2);
    assertOneLineError(await cli(['transform', '--vars', 'horizonDays=0', '--workdir', workdir]), /includes\/increment\.js: var horizonDays must be a whole number of days from 1 to 36500, got 0/, 1);
  });

  test('--vars accepts exactly the vars the models read besides the names dataform.json fixes', () => {
    const read = new Set<string>();
    for (const dir of ['includes', 'definitions']) {
      for (const file of readdirSync(path.join(PACKAGE_ROOT, dir), { recursive: true, encoding: 'utf8' })) {
        if (!/\.(js|sqlx)$/.test(file)) continue;
        const text = readFileSync(path.join(PACKAGE_ROOT, dir, file), 'utf8');
        for (const match of text.matchAll(/\bvars\.([A-Za-z_]\w*)|wholeNumber\("([A-Za-z_]\w*)"/g)) read.add(match[1] || match[2]);
      }
    }
    const fixed = Object.keys(JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'dataform.json'), 'utf8')).vars).filter((v) => !(RUN_VARS as readonly string[]).includes(v));
    assert.deepEqual([...read].filter((v) => !fixed.includes(v)).sort(), [...RUN_VARS].sort());
  });

  test('a selection that matches nothing is an error and leaves the last run as it was', async () => {
    const lastRun = path.join(workdir, 'last-run.json');
    const before = readFileSync(lastRun, 'utf8');
    assertOneLineError(await cli(['transform', '--tags', 'nosuchtag', '--workdir', workdir]), /no action has the tag nosuchtag \(tags: .*audit/, 1);
    assertOneLineError(await cli(['transform', '--tags', 'audit', 'nosuchtag', '--workdir', workdir]), /no action has the tag nosuchtag/, 1);
    assertOneLineError(await cli(['assert', '--actions', 'conversations_without_city', '--workdir', workdir]), /nothing to run: --actions conversations_without_city --include-dependents selects no assertion/, 1);
    assertOneLineError(await cli(['transform', '--actions', 'nosuchaction', '--workdir', workdir]), /no action named nosuchaction/, 1);
    assert.equal(readFileSync(lastRun, 'utf8'), before);
  });
});

describe('work directories', () => {
  test('a failed query or export creates no work directory', async () => {
    const missing = path.join(temp, 'never-created');
    assertOneLineError(await cli(['query', 'SELECT 1', '--workdir', missing]), /no warehouse at .*never-created/, 1);
    assertOneLineError(await cli(['export', 'orders', '--workdir', missing]), /no warehouse at/, 1);
    assert.equal(existsSync(missing), false);
  });

  test('a work directory path that is a file is one clear line, for every command', async () => {
    const file = path.join(temp, 'a-file');
    writeFileSync(file, 'not a folder');
    for (const args of [['load', anchorPath('seed-conversations.json')], ['transform'], ['query', 'SELECT 1'], ['export', 'orders'], ['status'], ['emulator', 'status']]) {
      for (const dir of [file, path.join(file, 'sub')]) {
        assertOneLineError(await cli([...args, '--workdir', dir]), /a-file is a file, not a folder/, 1);
      }
    }
    assert.equal(statSync(file).isFile(), true);
  });
});

describe('status with damaged state files', () => {
  test('an unreadable last-run record or lock is named, the rest still shown, exit 1; the lock as transform sees it', async () => {
    const damaged = path.join(temp, 'damaged');
    await cliOk(['load', anchorPath('seed-conversations.json'), '--workdir', damaged], temp);
    writeFileSync(path.join(damaged, 'last-run.json'), 'garbage{\n');
    writeFileSync(path.join(damaged, 'lock'), 'not a lock');
    const refused = await cli(['transform', '--workdir', damaged]);
    assertOneLineError(refused, /the lock file .*damaged\/lock is not one this tool wrote/, 1);
    const transformSays = refused.stderr.trim().replace(/^orchestrator: /, '');

    const json = await cli(['status', '--workdir', damaged, '--json']);
    assert.equal(json.code, 1, json.stderr);
    const status = JSON.parse(json.stdout);
    assert.equal(status.inUseBy, `unknown: ${transformSays}`);
    assert.equal(status.lastModelRun, `the last-run record ${path.join(damaged, 'last-run.json')} is unreadable (not valid JSON); the next transform rewrites it`);
    assert.equal(status.warehouse.rawRows, 1801, 'the rest is still reported');
    assert.equal(status.emulator, 'not running');

    const text = await cli(['status', '--workdir', damaged]);
    assert.equal(text.code, 1, text.stderr);
    assert.match(text.stdout, /^inUseBy: unknown: the lock file .*damaged\/lock is not one this tool wrote/m);
    assert.match(text.stdout, /^lastModelRun: the last-run record .*damaged\/last-run\.json is unreadable \(not valid JSON\)/m);
    assert.match(text.stdout, /^ {2}rawRows: 1,801$/m);

    writeFileSync(path.join(damaged, 'last-run.json'), 'null');
    assert.match(JSON.parse((await cli(['status', '--workdir', damaged, '--json'])).stdout).lastModelRun, /unreadable \(not a JSON object\)/);
  });
});

describe('export streams and writes whole files only', () => {
  test('a table named without its dataset that another dataset holds is named in the error', async () => {
    assertOneLineError(await cli(['export', 'raw_events', '--workdir', workdir]), /no table chat_models\.raw_events in the local warehouse: did you mean chat_raw\.raw_events\?/, 1);
    assertOneLineError(await cli(['export', 'no_such_table', '--workdir', workdir]), /no table chat_models\.no_such_table in the local warehouse: run 'orchestrator transform' first/, 1);
  });

  test('an output file that cannot be written is one clear line and leaves nothing behind', async () => {
    const target = path.join(temp, 'no-such-folder', 'out.ndjson');
    assertOneLineError(await cli(['export', 'orders', '--output', target, '--workdir', workdir]), /cannot write .*out\.ndjson: ENOENT/, 1);
    assert.equal(existsSync(path.dirname(target)), false);
  });

  test('--json prints a summary of a file export on stdout; without --output (rows on stdout) it is a usage error', async () => {
    const file = path.join(temp, 'orders.csv');
    const result = await cliOk(['export', 'orders', '--format', 'csv', '--output', file, '--json', '--workdir', workdir], temp);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    assert.deepEqual(JSON.parse(result.stdout), { table: 'chat_models.orders', format: 'csv', output: file, rows: lines.length - 1 });
    assert.equal(lines.length - 1, await orderCount());
    assert.equal(result.stderr, '', 'the summary replaces the text line');
    const text = await cliOk(['export', 'orders', '--output', file, '--workdir', workdir], temp);
    assert.equal(text.stdout, '');
    assert.match(text.stderr, /^wrote 400 rows of chat_models\.orders to /);

    const toStdout = await cli(['export', 'orders', '--json', '--workdir', workdir]);
    assertOneLineError(toStdout, /--json prints the summary on stdout, where the rows go without --output: give --output FILE/, 2);
    assert.equal(toStdout.stdout, '');
  });

  test('a table of several chunks exports every row once, in order, the same bytes to a file as to stdout', async () => {
    const file = path.join(temp, 'raw.ndjson');
    await cliOk(['export', 'chat_raw.raw_events', '--output', file, '--workdir', workdir], temp);
    const stdout = (await cliOk(['export', 'chat_raw.raw_events', '--workdir', workdir], temp)).stdout;
    assert.equal(readFileSync(file, 'utf8'), stdout);
    const rows = stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { message_id: string });
    assert.equal(rows.length, 3602);
    assert.equal(new Set(rows.map((r) => r.message_id)).size, 3602);
    assert.ok(rows.every((r, i) => i === 0 || rows[i - 1].message_id < r.message_id), 'sorted by its columns: one subscription, then message_id');
    assert.deepEqual(readdirSync(temp).filter((f) => f.includes('.partial-')), []);
  });
});
