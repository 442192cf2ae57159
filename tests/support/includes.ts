import { readFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { PACKAGE_ROOT } from '../../orchestrator/config.js';

/** The helpers one of the project's includes exports. */
export type Include = Record<string, (...args: never[]) => string> & Record<string, unknown>;

/**
 * The project's includes (`includes/<name>.js`), loaded as Dataform loads them for one engine: in
 * order, each seeing the ones before it as globals (increment.js calls `dialect`).
 */
export function loadIncludes(engine: 'bigquery' | 'duckdb', names: string[]): Record<string, Include> {
  const sandbox: Record<string, unknown> = { dataform: { projectConfig: { vars: { engine } } } };
  const loaded: Record<string, Include> = {};
  for (const name of names) {
    const module = { exports: {} };
    vm.runInNewContext(readFileSync(path.join(PACKAGE_ROOT, 'includes', `${name}.js`), 'utf8'), { ...sandbox, module });
    sandbox[name] = loaded[name] = module.exports as Include;
  }
  return loaded;
}
