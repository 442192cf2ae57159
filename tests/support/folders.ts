import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { cli, cliOk } from './cli.js';
import { FakeGoogleApis } from './fakeGoogle.js';

export interface TestFolder {
  /** A temporary folder for one test file: commands run in it, and its files go in it. */
  dir: string;
  /** A new work directory in `dir`. */
  newWorkdir: () => string;
}

/**
 * A temporary folder for the calling test file, removed when its tests end. Each work directory made
 * with `newWorkdir` has its emulator stopped first, by the CLI (the emulator is found by its pid),
 * whether a test started it or a failed test left it running.
 */
export function testFolder(name: string): TestFolder {
  const dir = mkdtempSync(path.join(os.tmpdir(), `orchestrator-${name}-`));
  const workdirs: string[] = [];
  after(async () => {
    for (const workdir of workdirs) await cli(['emulator', 'stop', '--workdir', workdir], dir);
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    newWorkdir: () => {
      const workdir = path.join(dir, `work-${workdirs.length}`);
      workdirs.push(workdir);
      return workdir;
    },
  };
}

export interface EmulatorFolder extends TestFolder {
  /** The work directory whose emulator runs for the whole file. */
  workdir: string;
  /** The emulator's `host:port`, known once the file's `before` hooks ran. */
  readonly host: string;
  /**
   * The environment of a `--target gcp` command run against the tests' recording endpoint (Cloud
   * Storage, BigQuery, Service Usage; tests/support/fakeGoogle.ts) and this emulator (Pub/Sub).
   */
  googleEnv: (endpoint: string) => Record<string, string>;
  /** Runs `work` with a new recording endpoint and googleEnv for it; the endpoint stops after, whatever happens. */
  withGoogle: <T>(work: (fake: FakeGoogleApis, env: Record<string, string>) => Promise<T>) => Promise<T>;
}

/** A test folder whose one work directory's Pub/Sub emulator runs from before the file's first test to after its last. */
export function emulatorFolder(name: string): EmulatorFolder {
  const folder = testFolder(name);
  const workdir = folder.newWorkdir();
  let host: string | undefined;
  before(async () => {
    const started = JSON.parse((await cliOk(['emulator', 'start', '--workdir', workdir, '--json'], folder.dir)).stdout) as { host: string; port: number };
    host = `${started.host}:${started.port}`;
  });
  const emulatorHost = () => {
    if (host === undefined) throw new Error('the emulator is started in a before hook: read its host in a test');
    return host;
  };
  const googleEnv = (endpoint: string) => ({
    ORCHESTRATOR_STORAGE_ENDPOINT: endpoint, ORCHESTRATOR_BIGQUERY_ENDPOINT: endpoint, ORCHESTRATOR_SERVICEUSAGE_ENDPOINT: endpoint,
    PUBSUB_EMULATOR_HOST: emulatorHost(),
  });
  return {
    ...folder,
    workdir,
    get host() {
      return emulatorHost();
    },
    googleEnv,
    withGoogle: async (work) => {
      const fake = new FakeGoogleApis();
      const endpoint = await fake.start();
      try {
        return await work(fake, googleEnv(endpoint));
      } finally {
        fake.stop();
      }
    },
  };
}
