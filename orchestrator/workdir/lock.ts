import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Workdir } from '../config.js';
import { UserError } from '../errors.js';

/**
 * Who holds a work directory. `startTicks` and `bootId` (Linux) tell the holder apart from a later
 * process that reused its pid; `token` tells one holding of the lock from the next.
 */
export interface LockHolder {
  pid: number;
  command: string;
  since: string;
  token: string;
  startTicks?: string;
  bootId?: string;
}

export const lockFile = (workdir: Workdir) => path.join(workdir.dir, 'lock');

/** When the process started, in clock ticks since boot (Linux); undefined elsewhere or when it is gone. */
function startTicksOf(pid: number): string | undefined {
  try {
    // Field 22 of /proc/PID/stat; the command name (field 2) may hold spaces, so count after its ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function bootId(): string | undefined {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Whether the process that wrote `holder` still runs (and is not a later process with its pid). */
function isHolderAlive(holder: LockHolder): boolean {
  try {
    process.kill(holder.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false; // ESRCH: no such process
  }
  if (holder.bootId && holder.bootId !== bootId()) return false;
  if (holder.startTicks === undefined) return true; // no /proc when it was taken: the pid is all there is
  return startTicksOf(holder.pid) === holder.startTicks;
}

function readHolder(file: string): LockHolder | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    const holder = JSON.parse(text) as LockHolder;
    if (Number.isInteger(holder.pid) && typeof holder.token === 'string') return holder;
  } catch {
    // fall through
  }
  throw new UserError(`the lock file ${file} is not one this tool wrote; if no orchestrator command runs on this work directory, remove it`);
}

/**
 * Creates `file` holding `holder` only if it does not exist. The content is written to a private
 * file first and hard-linked into place, so the lock never exists half-written.
 */
function createExclusive(file: string, holder: LockHolder): boolean {
  const draft = `${file}.${holder.token}`;
  try {
    // Inside the try: a full disk can create the draft and fail to fill it.
    writeFileSync(draft, `${JSON.stringify(holder)}\n`);
    linkSync(draft, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(draft, { force: true });
  }
}

/**
 * Takes `file` for `holder`, or returns the live holder that has it. A lock whose holder died (even
 * by SIGKILL) is stale and taken over. Taking over is itself guarded by a lock named after the stale
 * holding's token, so of two processes that find the same stale lock only one removes it, and a
 * process that read the lock long ago cannot remove a newer one (tokens are never reused).
 */
function acquire(file: string, holder: LockHolder): LockHolder | undefined {
  for (;;) {
    if (createExclusive(file, holder)) return undefined;
    const current = readHolder(file);
    if (!current) continue; // released meanwhile
    if (isHolderAlive(current)) return current;
    const breaker = `${file}.stale-${current.token}`;
    // Another live process removing the same stale lock is about to hold the work directory.
    const breaking = acquire(breaker, { ...holder, token: randomBytes(8).toString('hex') });
    if (breaking) return breaking;
    try {
      if (readHolder(file)?.token === current.token) rmSync(file, { force: true });
    } finally {
      rmSync(breaker, { force: true });
    }
  }
}

export interface WorkdirLock {
  release(): void;
}

/**
 * Takes the work directory for one command (`up`, `emulator start`, `sink`, `transform`): two of them
 * at once would start two emulators or write the warehouse together. Fails with one line naming the
 * process that has it. Released by `release()` or when the process exits; a holder killed outright
 * leaves a stale lock that the next command takes over.
 */
export function lockWorkdir(workdir: Workdir, command: string): WorkdirLock {
  mkdirSync(workdir.dir, { recursive: true });
  const file = lockFile(workdir);
  const holder: LockHolder = {
    pid: process.pid,
    command,
    since: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
    startTicks: startTicksOf(process.pid),
    bootId: bootId(),
  };
  const current = acquire(file, holder);
  if (current) {
    throw new UserError(
      `the work directory ${workdir.dir} is in use by PID ${current.pid} (orchestrator ${current.command}, since ${current.since}); wait for it to finish or stop it`,
    );
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    // Only our own holding: never remove a lock another process took.
    if (readHolder(file)?.token === holder.token) rmSync(file, { force: true });
  };
  process.once('exit', release);
  return { release };
}

export async function withWorkdirLock<T>(workdir: Workdir, command: string, work: () => Promise<T>): Promise<T> {
  const lock = lockWorkdir(workdir, command);
  try {
    return await work();
  } finally {
    lock.release();
  }
}

/**
 * The live process holding the work directory, if any. A lock file that cannot be read throws as
 * it does for lockWorkdir: the work directory is held by something unknown.
 */
export function workdirHolder(workdir: Workdir): LockHolder | undefined {
  const holder = readHolder(lockFile(workdir));
  return holder && isHolderAlive(holder) ? holder : undefined;
}
