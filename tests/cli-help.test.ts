import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cliOk } from './support/cli.js';

const temp = mkdtempSync(path.join(os.tmpdir(), 'orchestrator-help-'));
after(() => rmSync(temp, { recursive: true, force: true }));

/** `--help` of the real bin, through a pipe (not a terminal), at a width given by $COLUMNS. */
const help = async (args: string[], columns?: number) =>
  (await cliOk([...args, '--help'], temp, columns === undefined ? { COLUMNS: '' } : { COLUMNS: String(columns) })).stdout;

// yargs sets a type note flush against a description line that fills the column ("…)[array]"): a
// layout quirk of its own, not a cut word, so a note is split off before words are compared.
const words = (text: string) => text.replace(/(\S)(\[(?:array|boolean|number|string|required|default:|choices:))/g, '$1 $2').split(/\s+/).filter(Boolean).sort();

// What each command reads. The groups follow the code: every command has --workdir and --json;
// --project-dir where it reads dataform.json; --memory where it opens the DuckDB warehouse;
// --target and the settings every Google Cloud call resolves (--project, --location, --config) where
// it runs on either target; the provisioning settings on provision only, the one command that reads them.
const COMMON = ['help', 'workdir', 'json', 'project-dir'];
const WAREHOUSE = [...COMMON, 'memory'];
const TARGET = ['target', 'project', 'location', 'config'];
const SELECTION = ['vars', 'dry-run', 'print-command', 'actions', 'tags', 'include-deps', 'include-dependents'];
const PROVISIONING = ['project-number', 'partition-expiration-days', 'landing', 'subscription-service-account'];
const FLAGS: Record<string, string[]> = {
  up: [...WAREHOUSE, 'input'],
  generate: ['help', 'conversations', 'seed', 'start', 'output', 'duplicates', 'late', 'bad-lines', 'first-conversation', 'json'],
  emulator: ['help', 'workdir', 'json'],
  provision: [...WAREHOUSE, ...TARGET, ...PROVISIONING, 'plan'],
  upload: [...COMMON, ...TARGET, 'object'],
  ingest: [...COMMON, ...TARGET, 'input', 'replay-speed'],
  sink: [...WAREHOUSE, ...TARGET, 'until-idle', 'idle-seconds'],
  load: WAREHOUSE,
  transform: [...WAREHOUSE, ...TARGET, ...SELECTION, 'full-refresh'],
  assert: [...WAREHOUSE, ...TARGET, ...SELECTION],
  test: [...WAREHOUSE, 'vars'],
  export: [...WAREHOUSE, 'format', 'output'],
  query: [...WAREHOUSE, 'limit'],
  status: [...WAREHOUSE, ...TARGET, 'max-lag-minutes'],
  'dead-letters': [...COMMON, ...TARGET, 'limit', 'data-bytes'],
  check: [...WAREHOUSE, 'vars', 'cost', 'block-mb', 'full-refresh'],
  report: [...WAREHOUSE, ...TARGET, 'output'],
  schedule: [...COMMON, ...TARGET, 'plan', 'git-remote-url', 'git-branch', 'git-token-secret-version', 'dataform-repository', 'dataform-region',
    'service-account', 'every-minutes', 'release-cron', 'audit-cron', 'time-zone'],
};

/** The flags a help text lists: option lines start with `--name`, or `-o, --name` for an alias. */
const flagsOf = (text: string) => [...text.matchAll(/^ {2,6}(?:-\w, )?--([a-z][a-z-]*)/gm)].map((m) => m[1]);

describe('help', () => {
  test('is wrapped at word boundaries to the width: 80 and 100 columns, and 80 on a pipe without $COLUMNS', async () => {
    for (const args of [[], ['provision'], ['transform'], ['generate']]) {
      const wide = words(await help(args, 120));
      for (const columns of [80, 100, undefined]) {
        const text = await help(args, columns);
        const width = columns ?? 80;
        const long = text.split('\n').filter((line) => line.length > width);
        assert.deepEqual(long, [], `${args.join(' ') || 'top level'} at ${width} columns: lines fit`);
        // A word cut in two at the edge (yargs' ES module build did that) changes the words.
        assert.deepEqual(words(text), wide, `${args.join(' ') || 'top level'} at ${width} columns: no word cut`);
      }
    }
  });

  test('each command shows the flags it reads, and only those: the cloud provisioning settings on provision alone', async () => {
    const top = await help([]);
    const commands = [...top.matchAll(/^ {2}orchestrator ([a-z-]+)/gm)].map((m) => m[1]);
    assert.deepEqual(commands.sort(), Object.keys(FLAGS).sort(), 'every command is covered');
    for (const [command, expected] of Object.entries(FLAGS)) {
      const shown = flagsOf(await help([command]));
      assert.deepEqual([...shown].sort(), [...expected].sort(), `orchestrator ${command} --help`);
      assert.deepEqual(shown.filter((flag) => PROVISIONING.includes(flag)), command === 'provision' ? PROVISIONING : [], command);
    }
  });
});
