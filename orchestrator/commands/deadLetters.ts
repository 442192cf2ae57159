import type { PubSub, v1 } from '@google-cloud/pubsub';
import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';
import { gcpClients } from '../gcp/clients.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { textTable } from '../output/format.js';
import { explainPubSubError, withEmulator } from '../pipeline/local.js';
import { type DeadLetterSource, listDeadLetters, replayDeadLetters } from '../pubsub/deadLetters.js';
import { type CommonArgs, type TargetArgs, contextOf, log, print, printJson, withCommonOptions, withTargetOptions } from './common.js';

interface DeadLettersArgs extends CommonArgs, TargetArgs {
  action: 'list' | 'replay';
  limit: number;
  'data-bytes': number;
}

/** Runs `work` with the Pub/Sub clients of the target: the work directory's emulator, or Google Cloud. */
async function withPubSub<T>(args: DeadLettersArgs, work: (clients: { pubsub: PubSub; subscriber: v1.SubscriberClient; returnImmediately: boolean }) => Promise<T>): Promise<T> {
  const { project, workdir } = contextOf(args);
  if (args.target !== 'gcp') return withEmulator(project, workdir, (clients) => work({ ...clients, returnImmediately: true }));
  const clients = gcpClients(resolveGcpSettings(project, args));
  try {
    return await work({ ...clients, returnImmediately: clients.pubsubEmulated });
  } finally {
    await clients.close();
  }
}

export const deadLettersCommand: CommandModule<object, DeadLettersArgs> = {
  command: 'dead-letters <action>',
  describe: 'List the messages waiting on the dead-letter topic (acknowledging nothing), or replay them to the main topic',
  builder: (yargs) =>
    withTargetOptions(withCommonOptions(yargs, { warehouse: false }))
      .positional('action', { choices: ['list', 'replay'] as const, demandOption: true, describe: 'list: show them; replay: republish each to the main topic, then acknowledge it' })
      .option('limit', { type: 'number', default: 100, describe: 'At most this many messages' })
      .option('data-bytes', { type: 'number', default: 120, describe: 'list: show this many bytes of each message\'s data' }),
  handler: async (args) => {
    const { project, json } = contextOf(args);
    if (!(Number.isInteger(args.limit) && args.limit > 0)) throw new UserError('--limit must be a whole number above 0');
    if (!(Number.isInteger(args['data-bytes']) && args['data-bytes'] >= 0)) throw new UserError('--data-bytes must be a whole number');
    const names = project.resources;
    await withPubSub(args, async ({ pubsub, subscriber, returnImmediately }) => {
      const subscription = pubsub.subscription(names.deadLetterSubscription);
      const [exists] = await subscription.exists().catch((error: unknown) => explainPubSubError(error, `subscription ${names.deadLetterSubscription}`));
      if (!exists) throw new UserError(`subscription ${names.deadLetterSubscription} does not exist: run 'orchestrator provision' first`);
      const source: DeadLetterSource = { subscriber, subscriptionPath: subscription.name, returnImmediately };
      if (args.action === 'list') {
        const messages = await listDeadLetters(source, args.limit, args['data-bytes']);
        if (json) printJson(messages);
        else {
          print(textTable(['message_id', 'publish_time', 'attempts', 'bytes', 'data', 'attributes'], messages.map((m) => ({
            message_id: m.messageId, publish_time: m.publishTime, attempts: m.deliveryAttempts === null ? null : String(m.deliveryAttempts),
            bytes: String(m.bytes), data: m.data, attributes: JSON.stringify(m.attributes),
          }))));
          print(`${messages.length} message${messages.length === 1 ? '' : 's'} waiting on ${names.deadLetterTopic} (shown, not acknowledged)`);
        }
        return;
      }
      const summary = await replayDeadLetters(source, pubsub.topic(names.topic), args.limit);
      for (const failure of summary.failed) log(`could not republish ${failure.deadLetterId} (left on the dead-letter topic): ${failure.error}`);
      if (json) printJson(summary);
      else print(`replayed ${summary.replayed.length} message${summary.replayed.length === 1 ? '' : 's'} to ${names.topic}` +
        (summary.failed.length ? `; ${summary.failed.length} could not be republished and stay on ${names.deadLetterTopic}` : ''));
      if (summary.failed.length) process.exitCode = 1;
    });
  },
};
