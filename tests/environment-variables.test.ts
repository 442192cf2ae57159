import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../orchestrator/config.js';

/** The TypeScript sources below `dir`, recursively. */
function sources(dir: string): string[] {
  return readdirSync(path.join(PACKAGE_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => readFileSync(path.join(PACKAGE_ROOT, dir, file), 'utf8'));
}

test("every environment variable the code reads is in the README's table", () => {
  const code = [...sources('orchestrator'), ...sources('bench'), ...sources('tests/support')].join('\n');
  const read = new Set([
    ...[...code.matchAll(/process\.env\.([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]),
    // Names kept in a constant, read as process.env[NAME] or set on a child's environment.
    ...[...code.matchAll(/const [A-Z_]+_ENV = '([A-Z][A-Z0-9_]*)'/g)].map((m) => m[1]),
  ]);
  assert.ok(read.has('ORCHESTRATOR_DUCKDB_MEMORY') && read.has('PUBSUB_EMULATOR_HOST'), 'the scan finds the variables');
  const readme = readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Environment variables\n')) ?? '';
  const documented = new Set([...section.matchAll(/^\| ([^|]+) \|/gm)].flatMap((m) => [...m[1].matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((n) => n[1])));
  assert.deepEqual([...read].filter((name) => !documented.has(name)).sort(), []);
});
