// node dist/bench/reader.js [FILE]: the source-file reader's throughput, alone and with the event
// identity the publisher computes (toEventMessage), on one file laid out in SPEC's three shapes:
// NDJSON as given, a pretty-printed JSON array, and concatenated objects (compact and pretty-printed
// alternately, separated by commas). FILE defaults to 200,000 generated conversations (~900k events).
// Prints the numbers (CPU seconds too: on a shared machine they vary less than wall time); asserts nothing.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { toEventMessage } from '../orchestrator/events/message.js';
import { readRecords } from '../orchestrator/events/reader.js';
import { generateEvents } from '../orchestrator/generate/generator.js';

const log = (message: string) => process.stderr.write(`${message}\n`);
const dir = mkdtempSync(path.join(os.tmpdir(), 'chat-pipeline-reader-bench-'));

/** Writes every line of an NDJSON file through `layout` (index, line) into a new file. */
async function relayout(source: string, name: string, open: string, layout: (i: number, line: string) => string, close: string): Promise<string> {
  const file = path.join(dir, name);
  const out = createWriteStream(file);
  const write = async (text: string) => { if (!out.write(text)) await once(out, 'drain'); };
  await write(open);
  let i = 0;
  for await (const line of createInterface({ input: createReadStream(source), crlfDelay: Infinity })) {
    if (line.trim() !== '') await write(layout(i++, line));
  }
  await write(close);
  out.end();
  await once(out, 'finish');
  return file;
}

async function measure(file: string, identity: boolean): Promise<{ records: number; seconds: number; cpuSeconds: number }> {
  const started = performance.now();
  const cpu = process.cpuUsage();
  let records = 0;
  for await (const record of readRecords(createReadStream(file, { highWaterMark: 1 << 20 }))) {
    if (identity) toEventMessage(record, 'file:///bench.json');
    records++;
  }
  const used = process.cpuUsage(cpu);
  return { records, seconds: (performance.now() - started) / 1000, cpuSeconds: (used.user + used.system) / 1e6 };
}

try {
  let ndjson = process.argv[2];
  if (!ndjson) {
    ndjson = path.join(dir, 'events.ndjson');
    log('generating 200,000 conversations');
    await generateEvents(ndjson, { conversations: 200_000, seed: 1, start: new Date('2024-02-01T10:00:00Z') });
  }
  const pretty = (line: string) => JSON.stringify(JSON.parse(line), null, 2);
  const files = {
    ndjson,
    array: await relayout(ndjson, 'events.array.json', '[\n', (i, line) => `${i > 0 ? ',\n' : ''}${pretty(line)}`, '\n]\n'),
    concatenated: await relayout(ndjson, 'events.concatenated.json', '', (i, line) => `${i % 2 === 0 ? line : pretty(line)},\n`, ''),
  };
  const results: Record<string, unknown>[] = [];
  for (const [shape, file] of Object.entries(files)) {
    const megabytes = statSync(file).size / 1e6;
    for (const identity of [false, true]) {
      const { records, seconds, cpuSeconds } = await measure(file, identity);
      results.push({
        shape, step: identity ? 'read + event_id' : 'read', records, megabytes: Math.round(megabytes),
        seconds: Number(seconds.toFixed(2)), cpu_seconds: Number(cpuSeconds.toFixed(2)), records_per_second: Math.round(records / seconds), mb_per_second: Math.round(megabytes / seconds),
      });
      log(JSON.stringify(results.at(-1)));
    }
  }
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
