import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Polls `condition` every 20 ms until it holds (at most two minutes): for a state another process
 * reaches, so that a test waits for the state itself, never for a guess of how long it takes.
 */
export async function waitFor<T>(what: string, condition: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const value = condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The pid in a work directory's lock file, if any: an orchestrator command that holds it is past its start. */
export function lockPid(workdir: string): number | undefined {
  try {
    return (JSON.parse(readFileSync(path.join(workdir, 'lock'), 'utf8')) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}
