/** How much memory the local warehouse (DuckDB) may use before it spills to disk. */
import os from 'node:os';
import { UserError } from '../errors.js';

export const MEMORY_ENV = 'ORCHESTRATOR_DUCKDB_MEMORY';

/**
 * DuckDB's own default is 80% of the machine. It shares the machine with this Node process (the
 * sink's batches, export rows), the Pub/Sub emulator's JVM (which holds every unacknowledged
 * message) and its own allocations outside the buffer pool, so it gets half; beyond that it spills
 * to the work directory.
 */
const DEFAULT_MEMORY_SHARE = 0.5;
const MiB = 1024 * 1024;

/** The memory this process may use: physical memory, or the cgroup limit when lower (containers). */
export function machineMemoryBytes(): number {
  const constrained = process.constrainedMemory();
  return constrained > 0 ? Math.min(os.totalmem(), constrained) : os.totalmem();
}

/** A size as DuckDB's memory_limit reads it ('4GB', '512MiB', '1.5 GB'), or a UserError naming `source`. */
export function parseMemorySize(text: string, source: string): string {
  if (!/^\s*\d+(\.\d+)?\s*(B|[KMGT]i?B)\s*$/i.test(text)) {
    throw new UserError(`${source} must be a size such as 4GB or 512MB, got ${JSON.stringify(text)}`);
  }
  return text.trim();
}

/** DuckDB's memory limit: $ORCHESTRATOR_DUCKDB_MEMORY (which --memory sets), else half the machine's memory. */
export function memoryLimit(): string {
  const configured = process.env[MEMORY_ENV];
  if (configured) return parseMemorySize(configured, MEMORY_ENV);
  return `${Math.floor((machineMemoryBytes() * DEFAULT_MEMORY_SHARE) / MiB)}MiB`;
}

