import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../orchestrator/config.js';

export const BIN = path.join(PACKAGE_ROOT, 'bin', 'orchestrator.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawns the real `orchestrator` bin, as a user's shell would. */
export function spawnCli(args: string[], cwd: string, env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, METADATA_SERVER_DETECTION: 'none', ...env } });
}

export function cli(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, cwd, env);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, stdout, stderr: signal ? `${stderr}[killed by ${signal}]` : stderr }));
  });
}

export async function cliOk(args: string[], cwd: string, env: Record<string, string> = {}): Promise<CliResult> {
  const result = await cli(args, cwd, env);
  assert.equal(result.code, 0, `orchestrator ${args.join(' ')} failed:\n${result.stderr}`);
  return result;
}

export function assertCleanError(result: CliResult, pattern: RegExp): void {
  assert.notEqual(result.code, 0, 'a user error exits non-zero');
  assert.match(result.stderr, pattern);
  assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
}
