import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';
import { gcpClients, scheduleClients } from '../gcp/clients.js';
import { scheduleGcp } from '../gcp/schedule.js';
import { type ScheduleOptions, DEFAULT_AUDIT_CRON, DEFAULT_INCREMENTAL_EVERY_MINUTES, DEFAULT_RELEASE_CRON, resolveGcpSettings, resolveScheduleSettings } from '../gcp/settings.js';
import { textTable } from '../output/format.js';
import { type CommonArgs, type TargetArgs, contextOf, log, print, printJson, wholeNumber, withCommonOptions, withTargetOptions } from './common.js';

interface ScheduleArgs extends CommonArgs, TargetArgs, ScheduleOptions {
  plan: boolean;
}

export const scheduleCommand: CommandModule<object, ScheduleArgs> = {
  command: 'schedule',
  describe: "Set up scheduled runs with Dataform's own scheduler (--target gcp): repository linked to git, release, incremental and nightly audit workflows, and their service account (idempotent)",
  builder: (yargs) =>
    withTargetOptions(withCommonOptions(yargs, { warehouse: false }))
      .option('plan', { type: 'boolean', default: false, describe: 'Show every resource and setting, and what would be created or granted; write nothing' })
      .option('git-remote-url', { type: 'string', describe: 'https URL of the git remote Dataform compiles from (or gitRemoteUrl in --config)' })
      .option('git-branch', { type: 'string', describe: 'The branch the release compiles (gitDefaultBranch; default main)' })
      .option('git-token-secret-version', { type: 'string', describe: "Secret Manager version holding the git provider's token: projects/P/secrets/S/versions/N (gitTokenSecretVersion)" })
      .option('dataform-repository', { type: 'string', describe: 'Dataform repository id (dataformRepository; default chat-elt-pipeline)' })
      .option('dataform-region', { type: 'string', describe: 'Region of the Dataform repository (dataformRegion; default: the location, when it is a region)' })
      .option('service-account', { type: 'string', describe: 'Service account the scheduled runs use (dataformServiceAccount; default dataform-runner@PROJECT.iam.gserviceaccount.com, created if missing)' })
      .option('every-minutes', { type: 'number', coerce: wholeNumber('every-minutes', 1), describe: `Run the incremental graph every N minutes (incrementalEveryMinutes; default ${DEFAULT_INCREMENTAL_EVERY_MINUTES})` })
      .option('release-cron', { type: 'string', describe: `When the release compiles the branch (releaseCron; default '${DEFAULT_RELEASE_CRON}')` })
      .option('audit-cron', { type: 'string', describe: `When the audit assertions run (auditCron; default '${DEFAULT_AUDIT_CRON}')` })
      .option('time-zone', { type: 'string', describe: 'Time zone of the crons (scheduleTimeZone; default UTC)' }),
  handler: async (args) => {
    if (args.target !== 'gcp') throw new UserError("schedule needs --target gcp: it sets up Dataform's scheduler on Google Cloud (locally, run 'orchestrator transform')");
    const { project, json } = contextOf(args);
    const settings = resolveGcpSettings(project, args);
    const schedule = resolveScheduleSettings(settings, args);
    const clients = gcpClients(settings);
    let result;
    try {
      const sc = await scheduleClients(settings, clients.pubsub.auth);
      try {
        result = await scheduleGcp(project, settings, schedule, clients, sc, { plan: args.plan, log });
      } finally {
        await sc.close();
      }
    } finally {
      await clients.close();
    }
    const { steps, workflows } = result;
    const ok = !steps.some((s) => s.status === 'differs' || s.status === 'unhealthy');
    if (json) printJson({ ok, plan: args.plan, steps, workflows });
    else {
      print(textTable(['resource', 'name', 'status', 'detail'], steps.map((s) => ({ resource: s.resource, name: s.name, status: s.status, detail: s.detail ?? '' }))));
      print(['', 'settings:', ...steps.filter((s) => s.settings).map((s) => `  ${s.resource} ${s.name}: ${JSON.stringify(s.settings)}`)].join('\n'));
      print(['', 'workflows:', ...workflows.map((w) => `  ${w.id}: '${w.cron}' (${w.timeZone}), tag ${w.tags.join(',')}, ${w.actions.length} actions`)].join('\n'));
    }
    if (!ok) process.exitCode = 1;
  },
};
