import type { CommandModule } from 'yargs';
import { gcpClients } from '../gcp/clients.js';
import { provisionGcp } from '../gcp/provision.js';
import { resolveGcpSettings } from '../gcp/settings.js';
import { textTable } from '../output/format.js';
import { withEmulator } from '../pipeline/local.js';
import { provisionLocal } from '../pipeline/provision.js';
import { openLocalWarehouse } from '../warehouse/local.js';
import { type CommonArgs, type TargetArgs, contextOf, log, print, printJson, withCommonOptions, withProvisioningOptions, withTargetOptions } from './common.js';

interface ProvisionArgs extends CommonArgs, TargetArgs {
  plan: boolean;
}

export const provisionCommand: CommandModule<object, ProvisionArgs> = {
  command: 'provision',
  describe: 'Create the topics, subscriptions, bucket, datasets and raw table the pipeline needs (idempotent)',
  builder: (yargs) =>
    withProvisioningOptions(withTargetOptions(withCommonOptions(yargs)))
      .option('plan', { type: 'boolean', default: false, describe: 'With --target gcp: show what would be created or changed, and write nothing' }),
  handler: async (args) => {
    const { project, workdir, json } = contextOf(args);
    let steps: { resource: string; name: string; status: string; detail?: string; settings?: Record<string, unknown> }[];
    if (args.target === 'gcp') {
      const settings = resolveGcpSettings(project, args);
      const clients = gcpClients(settings);
      try {
        steps = await provisionGcp(project, settings, clients, { plan: args.plan, log });
      } finally {
        await clients.close();
      }
    } else {
      steps = await withEmulator(project, workdir, async (clients) => {
        const warehouse = await openLocalWarehouse(project, workdir);
        try {
          return await provisionLocal(project, workdir, clients, warehouse);
        } finally {
          await warehouse.close();
        }
      });
    }
    if (json) printJson(steps);
    else {
      print(textTable(['resource', 'name', 'status', 'detail'], steps.map((s) => ({ resource: s.resource, name: s.name, status: s.status, detail: s.detail ?? '' }))));
      const withSettings = steps.filter((s) => s.settings && s.status !== 'exists');
      if (withSettings.length) print(['', 'settings:', ...withSettings.map((s) => `  ${s.resource} ${s.name}: ${JSON.stringify(s.settings)}`)].join('\n'));
    }
    if (steps.some((s) => s.status === 'differs' || s.status === 'unhealthy')) process.exitCode = 1;
  },
};
