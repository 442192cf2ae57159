import path from 'node:path';
import type { CommandModule } from 'yargs';
import { gcpClients } from '../gcp/clients.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { uploadToGcs } from '../gcp/storage.js';
import { LocalBuckets } from '../storage/bucket.js';
import { formatBytes } from '../output/numbers.js';
import { type CommonArgs, type TargetArgs, contextOf, print, printJson, withCommonOptions, withTargetOptions } from './common.js';

interface UploadArgs extends CommonArgs, TargetArgs {
  file: string;
  object?: string;
}

export const uploadCommand: CommandModule<object, UploadArgs> = {
  command: 'upload <file>',
  describe: "Put a source file in the pipeline's bucket (locally: a folder in the work directory)",
  builder: (yargs) =>
    withTargetOptions(withCommonOptions(yargs, { warehouse: false }))
      .positional('file', { type: 'string', demandOption: true })
      .option('object', { type: 'string', describe: 'Object name in the bucket (default: the file name)' }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    const object = args.object ?? path.basename(args.file);
    let result: { uri: string; bytes: number; md5?: string; crc32c?: string };
    if (args.target === 'gcp') {
      const clients = gcpClients(resolveGcpSettings(project, args));
      try {
        result = await uploadToGcs(clients.storage, args.file, project.resources.bucket, object);
      } finally {
        await clients.close();
      }
    } else {
      result = await new LocalBuckets(workdir).upload(args.file, project.resources.bucket, object);
    }
    if (json) printJson(result);
    else print(`uploaded ${args.file} to ${result.uri} (${formatBytes(result.bytes)}, ${result.md5 ? `md5 ${result.md5}` : `crc32c ${result.crc32c}`} verified)`);
  },
};
