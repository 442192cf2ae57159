// npm run bench -- emulator-memory: runs `orchestrator up` on a generated file against an emulator
// with a small heap (JAVA_OPTS, default -Xmx512m) and samples, every second, the emulator's resident
// memory and Java heap (`jcmd GC.heap_info`, when the JDK's jcmd is on PATH) and the orchestrator's
// resident memory. Prints the numbers; asserts nothing.
//   BENCH_CONVERSATIONS (default 130,000: ~585k events), BENCH_INPUT (an existing file instead).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveWorkdir } from '../orchestrator/config.js';
import { generateEvents } from '../orchestrator/generate/generator.js';
import { BIN } from '../tests/support/cli.js';

const log = (message: string) => process.stderr.write(`${message}\n`);

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

function heapUsedMb(pid: number): number | undefined {
  try {
    const match = /used (\d+)K/.exec(execFileSync('jcmd', [String(pid), 'GC.heap_info'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString());
    return match ? Math.round(Number(match[1]) / 1024) : undefined;
  } catch {
    return undefined; // no jcmd, or the emulator is gone
  }
}

export async function runEmulatorMemoryBench(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-emulator-memory-'));
  const workdir = resolveWorkdir(path.join(dir, 'work'));
  const javaOpts = process.env.JAVA_OPTS ?? '-Xmx512m';
  try {
    let input = process.env.BENCH_INPUT;
    if (!input) {
      input = path.join(dir, 'events.ndjson');
      const generated = await generateEvents(input, { conversations: Number(process.env.BENCH_CONVERSATIONS ?? 130_000), seed: 11, start: new Date('2024-02-01T00:00:00Z') });
      log(`generated ${generated.events} events in ${input}`);
    }
    const started = performance.now();
    const up = spawn(process.execPath, [BIN, 'up', '--input', input, '--workdir', workdir.dir, '--json'], {
      env: { ...process.env, JAVA_OPTS: javaOpts, METADATA_SERVER_DETECTION: 'none' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    up.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((resolve) => up.on('close', resolve));
    const peaks = { emulatorRssMb: 0, emulatorHeapMb: 0, orchestratorRssMb: 0 };
    const heapSamples: number[] = [];
    // Widened: the callback below sets it, which TypeScript's narrowing does not see.
    let done = false as boolean;
    void exited.then(() => { done = true; });
    while (!done) {
      const state = existsSync(workdir.emulatorStateFile) ? (JSON.parse(readFileSync(workdir.emulatorStateFile, 'utf8')) as { pid: number }) : undefined;
      if (state) {
        peaks.emulatorRssMb = Math.max(peaks.emulatorRssMb, Math.round((statusKb(state.pid, 'VmHWM') ?? 0) / 1024));
        const heap = heapUsedMb(state.pid);
        if (heap !== undefined) {
          heapSamples.push(heap);
          peaks.emulatorHeapMb = Math.max(peaks.emulatorHeapMb, heap);
        }
      }
      peaks.orchestratorRssMb = Math.max(peaks.orchestratorRssMb, Math.round((statusKb(up.pid!, 'VmHWM') ?? 0) / 1024));
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1000))]);
    }
    const code = await exited;
    const seconds = (performance.now() - started) / 1000;
    const summary = code === 0 ? (JSON.parse(stdout) as { publish: { published: number }; sink: { rows: number; seconds: number }; rowsInTotal: Record<string, number> }) : undefined;
    const every = Math.max(1, Math.ceil(heapSamples.length / 12));
    const results: Record<string, string | number> = {
      java_opts: javaOpts,
      up_exit_code: String(code),
      up_seconds: seconds.toFixed(1),
      events_published: summary?.publish.published ?? '-',
      rows_landed: summary?.sink.rows ?? '-',
      distinct_events: summary?.rowsInTotal.stg_events ?? '-',
      final_rows: summary?.rowsInTotal.customer_courier_conversations ?? '-',
      emulator_peak_rss_mb: peaks.emulatorRssMb,
      emulator_peak_heap_used_mb: heapSamples.length ? peaks.emulatorHeapMb : 'no jcmd',
      emulator_heap_used_mb_samples: heapSamples.filter((_, i) => i % every === 0).join(' '),
      orchestrator_peak_rss_mb: peaks.orchestratorRssMb,
    };
    for (const [key, value] of Object.entries(results)) process.stdout.write(`${key.padEnd(32)} ${value}\n`);
    if (code !== 0) process.exitCode = 1;
  } finally {
    execFileSync(process.execPath, [BIN, 'emulator', 'stop', '--workdir', workdir.dir], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
}
