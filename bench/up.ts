// npm run bench -- up: times the real `orchestrator up --input FILE` as a user runs it (a new work
// directory, the emulator started and stopped by `up`), on a generated file made beforehand. Prints the
// whole command's wall time, its phases (from `up --json`), the orchestrator's CPU seconds and peak
// RSS (its own process, read by a preload hook at exit), and the emulator's CPU seconds and peak RSS
// (sampled from /proc). Asserts nothing.
//   BENCH_CONVERSATIONS (default 250,000: ~1.12M events), BENCH_INPUT (an existing file instead).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { resolveWorkdir } from '../orchestrator/config.js';
import { generateEvents } from '../orchestrator/generate/generator.js';
import { BIN } from '../tests/support/cli.js';

const log = (message: string) => process.stderr.write(`${message}\n`);
const HOOK = path.join(path.dirname(new URL(import.meta.url).pathname), 'rusageHook.js');
const TICKS_PER_SECOND = 100; // USER_HZ, 100 on Linux

/** CPU seconds (user + system) and peak RSS (MB) of a live process, from /proc; undefined once it is gone. */
function sample(pid: number): { cpu: number; peakMb: number } | undefined {
  try {
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpu, peakMb: hwm ? Math.round(Number(hwm[1]) / 1024) : 0 };
  } catch {
    return undefined;
  }
}

interface UpJson {
  publish: { published: number; seconds: number; heldSeconds: number };
  sink: { rows: number; seconds: number; recycles: number; pullSeconds: number; writeSeconds: number; ackSeconds: number };
  transform: { ok: boolean; seconds: number; compileSeconds: number };
  rowsInTotal: Record<string, number | null>;
}

export async function runUpBench(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-bench-up-'));
  const workdir = resolveWorkdir(path.join(dir, 'work'));
  const rusageFile = path.join(dir, 'rusage.json');
  try {
    let input = process.env.BENCH_INPUT;
    if (!input) {
      input = path.join(dir, 'events.ndjson');
      const conversations = Number(process.env.BENCH_CONVERSATIONS ?? 250_000);
      const generated = await generateEvents(input, { conversations, seed: 42, start: new Date('2024-02-01T00:00:00Z') });
      log(`generated ${generated.events} events (${(generated.bytes / 1e6).toFixed(0)} MB, ${conversations} conversations) in ${input}`);
    }
    const started = performance.now();
    const up = spawn(process.execPath, ['--import', pathToFileURL(HOOK).href, BIN, 'up', '--input', input, '--workdir', workdir.dir, '--json'], {
      env: { ...process.env, METADATA_SERVER_DETECTION: 'none', BENCH_RUSAGE_FILE: rusageFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    up.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    // The emulator is idle after the sink ends and until `up` stops it, so 100 ms samples miss nothing of its CPU.
    let emulator: { pid: number; cpu: number; peakMb: number } | undefined;
    // What the orchestrator and the emulator had used when the landing was over and the models began.
    let landing: { orchestrator?: { cpu: number; peakMb: number }; emulatorCpu?: number } | undefined;
    let stderr = '';
    up.stderr.on('data', (d: Buffer) => {
      process.stderr.write(d);
      stderr += d.toString();
      if (!landing && stderr.includes('running the models')) landing = { orchestrator: sample(up.pid!), emulatorCpu: emulator && sample(emulator.pid)?.cpu };
    });
    const exited = new Promise<number | null>((resolve) => up.on('close', resolve));
    let done = false as boolean;
    void exited.then(() => { done = true; });
    while (!done) {
      if (!emulator && existsSync(workdir.emulatorStateFile)) {
        try {
          emulator = { pid: (JSON.parse(readFileSync(workdir.emulatorStateFile, 'utf8')) as { pid: number }).pid, cpu: 0, peakMb: 0 };
        } catch {
          // written as we read it: next sample
        }
      }
      const now = emulator && sample(emulator.pid);
      // Max: once stopped, the emulator lingers as a zombie whose status has no memory fields.
      if (emulator && now) Object.assign(emulator, { cpu: Math.max(emulator.cpu, now.cpu), peakMb: Math.max(emulator.peakMb, now.peakMb) });
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 100))]);
    }
    const code = await exited;
    const wall = (performance.now() - started) / 1000;
    const summary = code === 0 ? (JSON.parse(stdout) as UpJson) : undefined;
    const usage = existsSync(rusageFile) ? (JSON.parse(readFileSync(rusageFile, 'utf8')) as NodeJS.ResourceUsage) : undefined;
    const s = (n: number | undefined) => (n === undefined ? '-' : n.toFixed(1));
    const results: Record<string, string | number> = {
      up_exit_code: String(code),
      up_wall_seconds: s(wall),
      events_published: summary?.publish.published ?? '-',
      rows_landed: summary?.sink.rows ?? '-',
      distinct_events: summary?.rowsInTotal.stg_events ?? '-',
      final_rows: summary?.rowsInTotal.customer_courier_conversations ?? '-',
      publish_seconds: s(summary?.publish.seconds),
      publish_held_by_sink_seconds: s(summary?.publish.heldSeconds),
      sink_seconds: s(summary?.sink.seconds),
      sink_pull_seconds: s(summary?.sink.pullSeconds),
      sink_write_seconds: s(summary?.sink.writeSeconds),
      sink_ack_seconds: s(summary?.sink.ackSeconds),
      sink_recycles: summary?.sink.recycles ?? '-',
      transform_compile_seconds: s(summary?.transform.compileSeconds),
      transform_seconds: s(summary?.transform.seconds),
      other_seconds: summary ? s(wall - summary.sink.seconds - summary.transform.seconds - summary.transform.compileSeconds) : '-',
      orchestrator_cpu_seconds_landing: s(landing?.orchestrator?.cpu),
      orchestrator_cpu_seconds: usage ? s((usage.userCPUTime + usage.systemCPUTime) / 1e6) : '-',
      orchestrator_peak_rss_mb_landing: landing?.orchestrator?.peakMb ?? '-',
      orchestrator_peak_rss_mb: usage ? Math.round(usage.maxRSS / 1024) : '-',
      emulator_cpu_seconds_landing: s(landing?.emulatorCpu),
      emulator_cpu_seconds: s(emulator?.cpu),
      emulator_peak_rss_mb: emulator?.peakMb ?? '-',
    };
    for (const [key, value] of Object.entries(results)) process.stdout.write(`${key.padEnd(32)} ${value}\n`);
    if (code !== 0) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
