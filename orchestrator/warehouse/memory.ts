/** How much memory the local warehouse (DuckDB) may use before it spills to disk. */
import os from 'node:os';
import { UserError } from '../errors.js';

export const MEMORY_ENV = 'ORCHESTRATOR_DUCKDB_MEMORY';

/**
 * DuckDB keeps every block it read or wrote in memory up to its limit, so the limit, not the data,
 * sets the process's size: a first build of a million events reached 1.2 GB of RSS at a 12 GB limit
 * and 0.5 GB at 256 MB, in the same time. So by default it starts small. A statement that needs more
 * (rows near Pub/Sub's 10 MB limit are parsed in memory, a vector of them at a time: 40 such rows
 * need about 2.5 GB) runs once more with the ceiling: half the machine, leaving the rest to this Node
 * process and the Pub/Sub emulator's JVM (which holds every unacknowledged message). Beyond the
 * limit in force DuckDB spills to the work directory.
 */
const MiB = 1024 * 1024;
const DEFAULT_START_BYTES = 512 * MiB;
const DEFAULT_CEILING_SHARE = 0.5;

/** The memory this process may use: physical memory, or the cgroup limit when lower (containers). */
export function machineMemoryBytes(): number {
  const constrained = process.constrainedMemory();
  return constrained > 0 ? Math.min(os.totalmem(), constrained) : os.totalmem();
}

/** A size as DuckDB's memory_limit reads it ('4GB', '512MiB', '1.5 GB'), or a UserError naming `source`. */
export function parseMemorySize(text: string, source: string): string {
  if (!/^\s*\d+(\.\d+)?\s*(B|[KMGT]i?B)\s*$/i.test(text)) {
    // `--memory -1GB` reaches here as "": the parser read -1GB as flags.
    const empty = text === '' && source.startsWith('--') ? ` (a value starting with '-' is read as flags: write ${source}=VALUE)` : '';
    throw new UserError(`${source} must be a size such as 4GB or 512MB, got ${JSON.stringify(text)}${empty}`);
  }
  return text.trim();
}

/** The memory limit DuckDB starts with, and the one it may raise it to for a statement that runs out. */
export interface MemoryBudget {
  start: string;
  ceiling: string;
}

/**
 * $ORCHESTRATOR_DUCKDB_MEMORY (which --memory sets) as a fixed limit; else 512 MiB, raised to half
 * the machine's memory for a statement that needs more.
 */
export function memoryBudget(env: NodeJS.ProcessEnv = process.env): MemoryBudget {
  const configured = env[MEMORY_ENV];
  if (configured) {
    const fixed = parseMemorySize(configured, MEMORY_ENV);
    return { start: fixed, ceiling: fixed };
  }
  const ceiling = machineMemoryBytes() * DEFAULT_CEILING_SHARE;
  const mib = (bytes: number) => `${Math.floor(bytes / MiB)}MiB`;
  return { start: mib(Math.min(DEFAULT_START_BYTES, ceiling)), ceiling: mib(ceiling) };
}
