import path from 'node:path';
import type { CommandModule } from 'yargs';
import { LocalBuckets } from '../storage/bucket.js';
import { type CommonArgs, contextOf, print, printJson, withCommonOptions } from './common.js';

interface UploadArgs extends CommonArgs {
  file: string;
  object?: string;
}

export const uploadCommand: CommandModule<object, UploadArgs> = {
  command: 'upload <file>',
  describe: "Put a source file in the pipeline's bucket (locally: a folder in the work directory)",
  builder: (yargs) =>
    withCommonOptions(yargs)
      .positional('file', { type: 'string', demandOption: true })
      .option('object', { type: 'string', describe: 'Object name in the bucket (default: the file name)' }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    const result = await new LocalBuckets(workdir).upload(args.file, project.resources.bucket, args.object ?? path.basename(args.file));
    if (json) printJson(result);
    else print(`uploaded ${args.file} to ${result.uri} (${result.bytes} bytes, md5 ${result.md5} verified)`);
  },
};
