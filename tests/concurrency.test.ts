import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { PACKAGE_ROOT, loadProjectConfig, resolveWorkdir } from '../orchestrator/config.js';
import { UserError } from '../orchestrator/errors.js';
import { openLocalWarehouse } from '../orchestrator/warehouse/local.js';
import { lockFile, lockWorkdir, type LockHolder } from '../orchestrator/workdir/lock.js';
import { assertCleanError, cli, cliOk, spawnCli } from './support/cli.js';
import { testFolder } from './support/folders.js';
import { lockPid, waitFor } from './support/wait.js';

// Real processes on real files: the CLI, the Pub/Sub emulator, DuckDB. Nothing waits on a clock:
// tests wait for conditions (a lock file naming a process, a line on its output).
const { dir: temp, newWorkdir } = testFolder('concurrency');
const project = loadProjectConfig(PACKAGE_ROOT);

function lockOf(dir: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'lock'), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/** Emulator processes started for `dir`, found as the orchestrator finds them: through /proc. */
function emulatorPids(dir: string): number[] {
  return readdirSync('/proc').filter((e) => /^\d+$/.test(e)).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`ORCHESTRATOR_EMULATOR_WORKDIR=${dir}`);
    } catch {
      return false;
    }
  }).map(Number);
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => {
  if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
  else child.on('exit', (code) => resolve(code));
});

/** A process that takes `dir`'s lock as `orchestrator` does and holds it until its stdin closes. */
function lockingProcess(dir: string): { child: ChildProcess; outcome: Promise<string> } {
  const lockModule = pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'orchestrator', 'workdir', 'lock.js')).href;
  const configModule = pathToFileURL(path.join(PACKAGE_ROOT, 'dist', 'orchestrator', 'config.js')).href;
  const code = `
    const { lockWorkdir } = await import(${JSON.stringify(lockModule)});
    const { resolveWorkdir } = await import(${JSON.stringify(configModule)});
    try {
      lockWorkdir(resolveWorkdir(${JSON.stringify(dir)}), 'test');
      console.log('locked');
    } catch (error) {
      console.log('refused ' + error.message);
      process.exit(0);
    }
    process.stdin.resume();
    process.stdin.on('end', () => process.exit(0));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  const outcome = new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
  });
  return { child, outcome };
}

describe('the work-directory lock', () => {
  test('a live holder is named; a holder killed with SIGKILL leaves a stale lock the next one takes over', async () => {
    const dir = newWorkdir();
    const workdir = resolveWorkdir(dir);
    const holder = lockingProcess(dir);
    assert.equal(await holder.outcome, 'locked');
    assert.throws(() => lockWorkdir(workdir, 'transform'), (error: unknown) =>
      error instanceof UserError && error.message.includes(`in use by PID ${holder.child.pid} (orchestrator test`));
    holder.child.kill('SIGKILL');
    await exited(holder.child);
    assert.equal(lockOf(dir)?.pid, holder.child.pid, 'SIGKILL left the lock file behind');
    const lock = lockWorkdir(workdir, 'transform');
    assert.equal(lockOf(dir)?.pid, process.pid);
    lock.release();
    assert.equal(existsSync(lockFile(workdir)), false);
  });

  test('a lock whose pid now belongs to another process (pid reuse) is stale', () => {
    const dir = newWorkdir();
    const workdir = resolveWorkdir(dir);
    const mine = lockWorkdir(workdir, 'sink');
    const recorded = lockOf(dir)!;
    mine.release();
    // This process is alive, but it is not the process that wrote these: another start time, another boot.
    for (const reused of [{ ...recorded, startTicks: '1' }, { ...recorded, bootId: 'another-boot' }]) {
      writeFileSync(lockFile(workdir), JSON.stringify({ ...reused, token: 'reused' }));
      const lock = lockWorkdir(workdir, 'transform');
      assert.equal(lockOf(dir)?.command, 'transform');
      lock.release();
    }
    writeFileSync(lockFile(workdir), JSON.stringify({ ...recorded, token: 'live' }));
    assert.throws(() => lockWorkdir(workdir, 'transform'), /in use by PID \d+ \(orchestrator sink/, 'the same pid and start time: the holder itself');
    rmSync(lockFile(workdir));
  });

  test('of eight processes taking over one stale lock at once, exactly one holds it', async () => {
    const dir = newWorkdir();
    const dead = lockingProcess(dir);
    assert.equal(await dead.outcome, 'locked');
    dead.child.kill('SIGKILL');
    await exited(dead.child);
    const contenders = Array.from({ length: 8 }, () => lockingProcess(dir));
    const outcomes = await Promise.all(contenders.map((c) => c.outcome));
    const winners = contenders.filter((_, i) => outcomes[i] === 'locked');
    assert.equal(winners.length, 1, outcomes.join('\n'));
    assert.equal(lockOf(dir)?.pid, winners[0].child.pid);
    const pids = new Set(contenders.map((c) => c.child.pid));
    for (const outcome of outcomes.filter((o) => o !== 'locked')) {
      assert.ok(pids.has(Number(/in use by PID (\d+)/.exec(outcome)?.[1])), outcome);
    }
    for (const c of contenders) c.child.stdin!.end();
    await Promise.all(contenders.map((c) => exited(c.child)));
    assert.deepEqual(readdirSync(dir), [], 'no lock, draft or takeover file is left');
  });
});

describe('commands on one work directory at once', () => {
  test('a second up, emulator start, sink or transform is refused, naming the up that runs; no emulator is orphaned', async () => {
    const dir = newWorkdir();
    const first = spawnCli(['up', '--workdir', dir], temp);
    let firstErr = '';
    first.stderr!.on('data', (d: Buffer) => { firstErr += d.toString(); });
    await waitFor('the first up to take the work directory', () => lockPid(dir) === first.pid);
    // Held still while the others try: the outcome cannot depend on who is faster.
    first.kill('SIGSTOP');
    try {
      for (const args of [['up'], ['emulator', 'start'], ['sink', '--until-idle'], ['transform']]) {
        const result = await cli([...args, '--workdir', dir], temp);
        assertCleanError(result, new RegExp(`^orchestrator: the work directory ${dir} is in use by PID ${first.pid} \\(orchestrator up, since `));
        assert.equal(result.stderr.trim().split('\n').length, 1, `one line: ${result.stderr}`);
      }
      const status = JSON.parse((await cliOk(['status', '--workdir', dir, '--json'], temp)).stdout);
      assert.match(status.inUseBy, new RegExp(`^PID ${first.pid} \\(orchestrator up`));
    } finally {
      first.kill('SIGCONT');
    }
    assert.equal(await exited(first), 0, firstErr);
    assert.doesNotMatch(firstErr, /MaxListenersExceededWarning/);
    assert.deepEqual(emulatorPids(dir), [], 'the emulator up started is stopped, and no other was started');
    assert.equal((await cli(['emulator', 'status', '--workdir', dir], temp)).code, 3);
    assert.equal(existsSync(path.join(dir, 'lock')), false);
  });

  test('an up killed with SIGKILL: its emulator is still found and stopped, even without a state file, and the next up runs', async () => {
    const dir = newWorkdir();
    const workdir = resolveWorkdir(dir);
    const killed = spawnCli(['up', '--workdir', dir], temp);
    const state = await waitFor('up to start its emulator', () => existsSync(workdir.emulatorStateFile) && JSON.parse(readFileSync(workdir.emulatorStateFile, 'utf8')));
    killed.kill('SIGKILL');
    await exited(killed);
    // The launcher script runs a few short commands (which, uname, dirname) before it execs the JVM,
    // and they carry the work directory's mark too: wait for the launcher to become the one emulator.
    await waitFor('the emulator to outlive the up that started it, as one process', () => {
      const pids = emulatorPids(dir);
      return pids.length === 1 && pids[0] === state.pid;
    });
    rmSync(workdir.emulatorStateFile); // what two racing ups used to leave: an emulator nobody recorded
    const status = JSON.parse((await cli(['emulator', 'status', '--workdir', dir, '--json'], temp)).stdout);
    assert.equal(status.pid, state.pid);
    assert.equal(JSON.parse((await cliOk(['emulator', 'stop', '--workdir', dir, '--json'], temp)).stdout).stopped, true);
    assert.deepEqual(emulatorPids(dir), []);
    const summary = JSON.parse((await cliOk(['up', '--workdir', dir, '--json'], temp)).stdout);
    assert.equal(summary.emulatorStarted, true, 'the stale lock of the killed up was taken over');
    assert.equal(summary.rowsInTotal.customer_courier_conversations, 400);
    assert.deepEqual(emulatorPids(dir), []);
  });

  test('status tells a warehouse in use by another process from no warehouse yet', async () => {
    const dir = newWorkdir();
    const workdir = resolveWorkdir(dir);
    assert.equal(JSON.parse((await cliOk(['status', '--workdir', dir, '--json'], temp)).stdout).warehouse, 'none yet');
    // This process plays the sink: it holds the work directory and has the warehouse open for writing.
    const lock = lockWorkdir(workdir, 'sink');
    const warehouse = await openLocalWarehouse(project, workdir);
    try {
      const status = JSON.parse((await cliOk(['status', '--workdir', dir, '--json'], temp)).stdout);
      assert.match(status.warehouse, new RegExp(`^in use by PID ${process.pid} \\(orchestrator sink\\)`));
      assertCleanError(await cli(['transform', '--workdir', dir], temp), new RegExp(`in use by PID ${process.pid} \\(orchestrator sink`));
    } finally {
      await warehouse.close();
      lock.release();
    }
    const status = JSON.parse((await cliOk(['status', '--workdir', dir, '--json'], temp)).stdout);
    assert.equal(typeof status.warehouse, 'object', 'free again: its counts');
  });
});

describe('up and sink report what matters', () => {
  test('a failed model run: up names the first real error, not what it skipped', async () => {
    const dir = newWorkdir();
    // DuckDB's memory limit, far too small for the models: staging runs out of memory.
    const result = await cli(['up', '--workdir', dir], temp, { ORCHESTRATOR_DUCKDB_MEMORY: '20MB' });
    assertCleanError(result, /^orchestrator: the models failed: chat_models\.stg_pending_deliveries: DuckDB ran out of memory at its limit of 20MB: raise --memory or \$ORCHESTRATOR_DUCKDB_MEMORY \(Out of Memory Error/m);
    assert.doesNotMatch(result.stderr + result.stdout, /Catalog Error/);
    assert.match(result.stdout, /customer_courier_conversations\s+not created/);
    assert.deepEqual(emulatorPids(dir), []);
  });

  test('an idle sink adds no listener per wait (no MaxListenersExceededWarning)', async () => {
    const dir = newWorkdir();
    await cliOk(['emulator', 'start', '--workdir', dir], temp);
    await cliOk(['provision', '--workdir', dir], temp);
    // One second of idling is twenty waits of 50 ms: each used to leave an abort listener behind.
    const result = await cliOk(['sink', '--until-idle', '--idle-seconds', '1', '--workdir', dir], temp);
    assert.doesNotMatch(result.stderr, /MaxListenersExceededWarning/);
    await cliOk(['emulator', 'stop', '--workdir', dir], temp);
  });
});
