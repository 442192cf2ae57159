import type { CommandModule } from 'yargs';
import { textTable } from '../output/format.js';
import { withEmulator } from '../pipeline/local.js';
import { provisionLocal } from '../pipeline/provision.js';
import { openLocalWarehouse } from '../runner/local.js';
import { type CommonArgs, contextOf, print, printJson, withCommonOptions } from './common.js';

export const provisionCommand: CommandModule<object, CommonArgs> = {
  command: 'provision',
  describe: 'Create the topics, subscriptions, bucket, datasets and raw table the pipeline needs (idempotent)',
  builder: (yargs) => withCommonOptions(yargs),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    const steps = await withEmulator(project, workdir, async (clients) => {
      const warehouse = await openLocalWarehouse(project, workdir);
      try {
        return await provisionLocal(project, workdir, clients, warehouse);
      } finally {
        await warehouse.close();
      }
    });
    if (json) printJson(steps);
    else print(textTable(['resource', 'name', 'status', 'detail'], steps.map((s) => ({ ...s, detail: s.detail ?? '' }))));
    if (steps.some((s) => s.status === 'differs')) process.exitCode = 1;
  },
};
