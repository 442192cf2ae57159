import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
}

const HOST = '127.0.0.1';
/**
 * The emulator keeps every message it was sent in memory, acknowledged or not (measured: ~1.3 KB of
 * heap per chat event; at 512 MB it dies of OutOfMemoryError after ~360k messages). 2 GB holds a
 * million-event run; JAVA_OPTS overrides it.
 */
const DEFAULT_JAVA_OPTS = '-Xmx2g';
const LAUNCHER = path.join('platform', 'pubsub-emulator', 'bin', 'cloud-pubsub-emulator');

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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Guards against signalling an unrelated process that reused a recorded pid. */
function isEmulatorProcess(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('pubsub-emulator');
  } catch {
    return isAlive(pid); // no /proc (macOS): trust the pid
  }
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

export async function status(workdir: Workdir): Promise<{ running: boolean; state?: EmulatorState }> {
  const state = readState(workdir);
  if (!state || !isAlive(state.pid) || !isEmulatorProcess(state.pid)) return { running: false };
  return { running: await isReady(state.host, state.port), state };
}

/** Starts the emulator for this work directory (or returns the one already running there). */
export async function start(workdir: Workdir, timeoutMs = 60_000): Promise<{ state: EmulatorState; started: boolean }> {
  const current = await status(workdir);
  if (current.running && current.state) return { state: current.state, started: false };
  const launcher = await launcherPath();
  mkdirSync(workdir.dir, { recursive: true });
  const port = await freePort();
  const log = openSync(workdir.emulatorLogFile, 'a');
  const child = spawn(launcher, [`--host=${HOST}`, `--port=${port}`], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, JAVA_OPTS: process.env.JAVA_OPTS ?? DEFAULT_JAVA_OPTS },
  });
  closeSync(log);
  child.unref();
  let exited = false;
  child.on('exit', () => { exited = true; });
  const state: EmulatorState = { pid: child.pid!, host: HOST, port, startedAt: new Date().toISOString() };
  writeFileSync(workdir.emulatorStateFile, `${JSON.stringify(state, null, 2)}\n`);
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

/** Stops the emulator recorded in this work directory, by its pid only. */
export async function stop(workdir: Workdir): Promise<boolean> {
  const state = readState(workdir);
  rmSync(workdir.emulatorStateFile, { force: true });
  if (!state || !isAlive(state.pid) || !isEmulatorProcess(state.pid)) return false;
  await stopPid(state.pid);
  return true;
}

/** host:port of the emulator serving this work directory; $PUBSUB_EMULATOR_HOST wins when set. */
export async function emulatorHost(workdir: Workdir): Promise<string> {
  const fromEnv = process.env.PUBSUB_EMULATOR_HOST;
  if (fromEnv) {
    const { host, port } = splitHostPort(fromEnv);
    if (!(await isReady(host, port))) throw new UserError(`no Pub/Sub emulator answers at PUBSUB_EMULATOR_HOST=${fromEnv}`);
    return fromEnv;
  }
  const current = await status(workdir);
  if (!current.running || !current.state) {
    throw new UserError(`the Pub/Sub emulator is not running for ${workdir.dir}: run 'orchestrator emulator start' (or 'orchestrator up')`);
  }
  return `${current.state.host}:${current.state.port}`;
}
