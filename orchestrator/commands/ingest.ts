import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';
import { formatBytes, formatCount, formatSeconds } from '../output/numbers.js';
import { Progress } from '../output/progress.js';
import { ingest, ingestToEmulator, withEmulator } from '../pipeline/local.js';
import type { PublishSummary } from '../pubsub/publisher.js';
import { gcpClients } from '../gcp/clients.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { openGcsObject } from '../gcp/storage.js';
import { LocalBuckets, openSource } from '../storage/bucket.js';
import { type CommonArgs, type TargetArgs, abortOnInterrupt, contextOf, positiveNumber, print, printJson, withCommonOptions, withTargetOptions } from './common.js';

interface IngestArgs extends CommonArgs, TargetArgs {
  input: string;
  'replay-speed'?: number;
}

/** What a publish did (this run's counts). */
export function describePublish(summary: PublishSummary & { source: string }): string {
  const rate = summary.seconds > 0 ? Math.round(summary.published / summary.seconds) : summary.published;
  return `published ${formatCount(summary.published)} of ${formatCount(summary.records)} records from ${summary.source} ` +
    `(${formatBytes(summary.bytes)}; ${formatCount(summary.notJson)} not JSON, ${formatCount(summary.tooLarge)} too large) ` +
    `in ${formatSeconds(summary.seconds)}, ${formatCount(rate)} records/s`;
}

export function failIfUnpublished(summary: PublishSummary): void {
  if (summary.failed === 0 && summary.published === summary.records) return;
  const examples = summary.failures.map((f) => `record ${f.position}: ${f.error}`).join('; ');
  throw new UserError(`${summary.records - summary.published} of ${summary.records} events were not published${examples ? `: ${examples}` : ''}`);
}

export const ingestCommand: CommandModule<object, IngestArgs> = {
  command: 'ingest',
  describe: 'Stream a source file (a path or gs://BUCKET/OBJECT) into the Pub/Sub topic, one message per event',
  builder: (yargs) =>
    withTargetOptions(withCommonOptions(yargs, { warehouse: false }))
      .option('input', { type: 'string', demandOption: true, describe: 'PATH or gs://BUCKET/OBJECT (locally: the bucket folder)' })
      .option('replay-speed', { type: 'number', coerce: positiveNumber('replay-speed'), describe: 'Pace events by messageSentTime, X times faster than real time' }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    const signal = abortOnInterrupt('interrupted: finishing the messages in flight');
    let progress: Progress | undefined;
    const publishOptions = {
      replaySpeed: args['replay-speed'],
      signal,
      onOpen: (bytes: number) => { progress = new Progress('publishing', { totalBytes: bytes }); },
      onProgress: (p: { published: number; bytesRead: number }) => progress?.update(p.published, 'events', p.bytesRead),
    };
    let summary: PublishSummary & { source: string };
    if (args.target === 'gcp') {
      const clients = gcpClients(resolveGcpSettings(project, args));
      try {
        summary = await ingest(project, workdir, clients.pubsub, args.input, {
          ...publishOptions,
          open: (source) => (source.kind === 'object' ? openGcsObject(clients.storage, source.bucket, source.object) : openSource(source, new LocalBuckets(workdir))),
        });
      } finally {
        await clients.close();
      }
    } else {
      summary = await withEmulator(project, workdir, (_clients, emulator) => ingestToEmulator(project, workdir, emulator, args.input, publishOptions));
    }
    progress?.done();
    if (json) printJson(summary);
    else print(`this run: ${describePublish(summary)}`);
    failIfUnpublished(summary);
    if (signal.aborted) throw new UserError(`interrupted after ${summary.published} events: the rest of ${args.input} was not published`, 130);
  },
};
