import type { ProjectConfig, Workdir } from '../config.js';
import { DuckDbWarehouse } from './duckdb.js';

/** The work directory's DuckDB file, attached under the project's name so Dataform's three-part names resolve. */
export async function openLocalWarehouse(project: ProjectConfig, workdir: Workdir, readOnly = false, profileFile?: string): Promise<DuckDbWarehouse> {
  return DuckDbWarehouse.open(workdir.warehouseFile, { database: project.database, readOnly, profileFile });
}

/** The warehouse for SQL a user typed and for exports: read-only, no file, network or settings access. */
export async function openSandboxedWarehouse(project: ProjectConfig, workdir: Workdir): Promise<DuckDbWarehouse> {
  return DuckDbWarehouse.open(workdir.warehouseFile, { database: project.database, sandbox: true });
}
