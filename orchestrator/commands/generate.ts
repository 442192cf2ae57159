import type { CommandModule } from 'yargs';
import { MAX_SEED, generateEvents } from '../generate/generator.js';
import { formatBytes, formatCount } from '../output/numbers.js';
import { Progress } from '../output/progress.js';
import { print, printJson, share, wholeNumber } from './common.js';

interface GenerateArgs {
  conversations: number;
  seed: number;
  start: string;
  output: string;
  duplicates: number;
  late: number;
  'bad-lines': number;
  'first-conversation': number;
  json: boolean;
}

export const generateCommand: CommandModule<object, GenerateArgs> = {
  command: 'generate',
  describe: 'Write synthetic chat events (NDJSON) shaped like the challenge, deterministic for a seed',
  builder: (yargs) =>
    yargs
      .option('conversations', { type: 'number', demandOption: true, coerce: wholeNumber('conversations', 1), describe: 'Conversations to generate (2-5 messages and one order event each)' })
      .option('seed', {
        type: 'number', default: 1, coerce: wholeNumber('seed', 0, MAX_SEED),
        describe: `Random seed, 0 to ${MAX_SEED}: the same seed gives the same file, and two seeds never share an order id`,
      })
      .option('start', { type: 'string', default: '2024-02-01T10:00:00Z', describe: 'Time of the first message' })
      .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'File to write' })
      .option('duplicates', { type: 'number', default: 0, coerce: share('duplicates'), describe: 'Share of events repeated later with keys reordered (0-1)' })
      .option('late', { type: 'number', default: 0, coerce: share('late'), describe: 'Share of events written 10-60 minutes late (0-1)' })
      .option('bad-lines', { type: 'number', default: 0, coerce: share('bad-lines'), describe: 'Share of conversations followed by an invalid line (0-1)' })
      .option('first-conversation', { type: 'number', default: 0, coerce: wholeNumber('first-conversation', 0), describe: 'Number conversations from here: with the same seed, order ids continue those of an earlier file (new orders, as in production)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print structured JSON on stdout' }),
  handler: async (args) => {
    const progress = new Progress(`generating ${args.output}`);
    const summary = await generateEvents(args.output, {
      conversations: args.conversations, seed: args.seed, start: new Date(args.start),
      duplicateRate: args.duplicates, lateRate: args.late, badLineRate: args['bad-lines'], firstConversation: args['first-conversation'],
      onProgress: (n) => progress.update(n, 'conversations'),
    });
    progress.done();
    if (args.json) printJson({ output: args.output, ...summary });
    else {
      const n = formatCount;
      print(`wrote ${n(summary.events)} events (${n(summary.messages)} messages, ${n(summary.orders)} order events, ${n(summary.duplicates)} duplicates, ` +
        `${n(summary.late)} late, ${n(summary.badLines)} bad lines) for ${n(summary.conversations)} conversations, order ids ${summary.orderIds.first} to ` +
        `${summary.orderIds.last}, to ${args.output} (${formatBytes(summary.bytes)})`);
    }
  },
};
