import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../errors.js';
import { freePort, splitHostPort } from '../net.js';
import type { Workdir } from '../config.js';

/** What `emulator start` records in the work directory, so that later commands find and stop it. */
export interface EmulatorState {
  pid: number;
  host: string;
  port: number;
  startedAt: string;
  /** The -Xmx the emulator runs with, in bytes, when known: what it can hold (see capacity.ts). */
  maxHeapBytes?: number;
}

const HOST = '127.0.0.1';
/**
 * The emulator keeps every message it was sent in memory, acknowledged or not, until its
 * subscription is deleted (measured: ~1.2 KB of heap per message plus its data; see capacity.ts).
 * 2 GB holds ~1.5M chat events. With the JVM's defaults (G1, C2) half of its CPU went to the
 * collector and the compiler: the serial collector and the client compiler alone took 40% less CPU
 * and a third of the memory for the same 225k events through `up`. JAVA_OPTS overrides it.
 */
const DEFAULT_JAVA_OPTS = '-Xmx2g -XX:+UseSerialGC -XX:TieredStopAtLevel=1';
const LAUNCHER = path.join('platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator');
/**
 * Set in the emulator's environment: on Linux, /proc then tells which work directory an emulator
 * process belongs to, so it is found and stopped even when its state file is missing or stale.
 */
const WORKDIR_ENV = 'ORCHESTRATOR_EMULATOR_WORKDIR';

/** The Google Cloud SDK root: $CLOUDSDK_ROOT_DIR, else what `gcloud info` says, else the usual places. */
async function sdkRoot(): Promise<string | undefined> {
  const fromEnv = process.env.CLOUDSDK_ROOT_DIR;
  if (fromEnv) return fromEnv;
  try {
    const { stdout } = await promisify(execFile)('gcloud', ['info', '--format=value(installation.sdk_root)'], { timeout: 20_000 });
    if (stdout.trim()) return stdout.trim();
  } catch {
    // gcloud not on PATH: try the usual install locations.
  }
  return ['/usr/lib/google-cloud-sdk', '/usr/share/google-cloud-sdk', '/opt/google-cloud-sdk'].find((dir) => existsSync(path.join(dir, LAUNCHER)));
}

async function launcherPath(): Promise<string> {
  const root = await sdkRoot();
  const launcher = root && path.join(root, LAUNCHER);
  if (!launcher || !existsSync(launcher)) {
    throw new UserError(
      'the Pub/Sub emulator is not installed: install the Google Cloud CLI with its "pubsub-emulator" component ' +
        '(gcloud components install pubsub-emulator, or the google-cloud-cli-pubsub-emulator package), ' +
        'or set CLOUDSDK_ROOT_DIR to the SDK root',
    );
  }
  return launcher;
}

/** The JVM's default -Xmx: a quarter of the memory it may use. */
const defaultMaxHeap = () => Math.floor(Math.min(os.totalmem(), process.constrainedMemory() || Number.POSITIVE_INFINITY) / 4);

/** -Xmx of JVM options in bytes (the last one wins, as in the JVM). */
function maxHeapOf(javaOpts: string): number | undefined {
  const matches = [...javaOpts.matchAll(/-Xmx(\d+)([kKmMgGtT]?)(?=\s|$)/g)];
  const last = matches.at(-1);
  if (!last) return undefined;
  const units: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };
  return Number(last[1]) * units[last[2].toLowerCase()];
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const hasProc = () => existsSync('/proc/self/environ');

function procText(pid: number, file: 'cmdline' | 'environ'): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is an emulator this work directory started; guards against signalling an unrelated
 * process that reused a recorded pid. Without /proc (macOS) the pid is all there is.
 */
function servesWorkdir(pid: number, workdir: Workdir): boolean {
  if (!hasProc()) return isAlive(pid);
  const cmdline = procText(pid, 'cmdline');
  return Boolean(cmdline?.some((arg) => arg.includes('pubsub-emulator')) && procText(pid, 'environ')?.includes(`${WORKDIR_ENV}=${workdir.dir}`));
}

/** Every emulator process started for this work directory, found through /proc (Linux). */
function emulatorsOf(workdir: Workdir): EmulatorState[] {
  if (!hasProc()) return [];
  const found: EmulatorState[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid || !servesWorkdir(pid, workdir)) continue;
    const args = procText(pid, 'cmdline') ?? [];
    const flag = (name: string) => args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
    found.push({ pid, host: flag('host') ?? HOST, port: Number(flag('port')), startedAt: 'unknown (no state file)', maxHeapBytes: maxHeapOf(args.join(' ')) ?? defaultMaxHeap() });
  }
  return found;
}

export async function isReady(host: string, port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://${host}:${port}/`, { signal: AbortSignal.timeout(1000) });
    return (await response.text()).trim() === 'Ok';
  } catch {
    return false;
  }
}

export function readState(workdir: Workdir): EmulatorState | undefined {
  if (!existsSync(workdir.emulatorStateFile)) return undefined;
  try {
    return JSON.parse(readFileSync(workdir.emulatorStateFile, 'utf8')) as EmulatorState;
  } catch {
    return undefined;
  }
}

/** Replaces the state file in one step, so a reader never sees it half-written. */
function writeState(workdir: Workdir, state: EmulatorState): void {
  const draft = `${workdir.emulatorStateFile}.${process.pid}`;
  writeFileSync(draft, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(draft, workdir.emulatorStateFile);
}

/** The emulator running for this work directory: the one its state file names, else one /proc finds. */
function findEmulator(workdir: Workdir): EmulatorState | undefined {
  const state = readState(workdir);
  if (state && servesWorkdir(state.pid, workdir)) return state;
  return emulatorsOf(workdir)[0];
}

export async function status(workdir: Workdir): Promise<{ running: boolean; state?: EmulatorState }> {
  const state = findEmulator(workdir);
  if (!state) return { running: false };
  return { running: await isReady(state.host, state.port), state };
}

/**
 * Starts the emulator for this work directory (or returns the one already running there). The
 * caller holds the work directory's lock, so two commands cannot both start one.
 */
export async function start(workdir: Workdir, timeoutMs = 60_000): Promise<{ state: EmulatorState; started: boolean }> {
  const current = await status(workdir);
  if (current.running && current.state) {
    // One whose state file was lost is adopted: recorded again, so every command finds it.
    if (readState(workdir)?.pid !== current.state.pid) writeState(workdir, current.state);
    return { state: current.state, started: false };
  }
  // One that runs but does not answer (hung, or still starting after a crash) is replaced, not left behind.
  if (current.state) await stop(workdir);
  const launcher = await launcherPath();
  mkdirSync(workdir.dir, { recursive: true });
  const port = await freePort();
  const javaOpts = process.env.JAVA_OPTS ?? DEFAULT_JAVA_OPTS;
  const log = openSync(workdir.emulatorLogFile, 'a');
  const child = spawn(launcher, [`--host=${HOST}`, `--port=${port}`], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, JAVA_OPTS: javaOpts, [WORKDIR_ENV]: workdir.dir },
  });
  closeSync(log);
  child.unref();
  // Widened: the 'exit' listener sets it, which TypeScript's narrowing does not see.
  let exited = false as boolean;
  child.on('exit', () => { exited = true; });
  const state: EmulatorState = { pid: child.pid!, host: HOST, port, startedAt: new Date().toISOString(), maxHeapBytes: maxHeapOf(javaOpts) ?? defaultMaxHeap() };
  // Written in the same tick as the spawn; should this process die in between, /proc still finds it.
  writeState(workdir, state);
  const deadline = Date.now() + timeoutMs;
  while (!(await isReady(HOST, port))) {
    if (exited || Date.now() > deadline) {
      await stopPid(state.pid);
      rmSync(workdir.emulatorStateFile, { force: true });
      const tail = existsSync(workdir.emulatorLogFile) ? readFileSync(workdir.emulatorLogFile, 'utf8').trim().split('\n').slice(-3).join(' | ') : '';
      throw new UserError(`the Pub/Sub emulator did not become ready on ${HOST}:${port}${tail ? `: ${tail}` : ''} (log: ${workdir.emulatorLogFile})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { state, started: true };
}

async function stopPid(pid: number): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * Stops the emulator recorded in this work directory, and any other this work directory started
 * (found through /proc), by their pids only. Returns how many were stopped.
 */
export async function stop(workdir: Workdir): Promise<number> {
  const state = readState(workdir);
  const pids = new Set(emulatorsOf(workdir).map((e) => e.pid));
  if (state && servesWorkdir(state.pid, workdir)) pids.add(state.pid);
  for (const pid of pids) await stopPid(pid);
  rmSync(workdir.emulatorStateFile, { force: true });
  return pids.size;
}

/**
 * The emulator serving this work directory: $PUBSUB_EMULATOR_HOST when set (then its state is
 * unknown), else the one this work directory started.
 */
export async function emulatorEndpoint(workdir: Workdir): Promise<{ host: string; state?: EmulatorState }> {
  const fromEnv = process.env.PUBSUB_EMULATOR_HOST;
  if (fromEnv) {
    const { host, port } = splitHostPort(fromEnv);
    if (!(await isReady(host, port))) throw new UserError(`no Pub/Sub emulator answers at PUBSUB_EMULATOR_HOST=${fromEnv}`);
    return { host: fromEnv };
  }
  const current = await status(workdir);
  if (!current.running || !current.state) {
    throw new UserError(`the Pub/Sub emulator is not running for ${workdir.dir}: run 'orchestrator emulator start' (or 'orchestrator up')`);
  }
  return { host: `${current.state.host}:${current.state.port}`, state: current.state };
}
