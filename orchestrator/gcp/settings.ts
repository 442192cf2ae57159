import { existsSync } from 'node:fs';
import { type ProjectConfig, readJsonObject } from '../config.js';
import { UserError } from '../errors.js';
import { validateIdentifier } from '../identifiers.js';
import { pipelineName } from './labels.js';

/** What running on Google Cloud needs beyond the resource names (which dataform.json's vars hold). */
export interface GcpSettings {
  projectId: string;
  location: string;
  /** Where `location` came from, so that a mismatch with the datasets can say which setting to fix. */
  locationSource: string;
  /** Finds the Pub/Sub service agent; looked up through Cloud Storage when not given. */
  projectNumber?: string;
  /** Raw partitions older than this are deleted by BigQuery; unset keeps them. */
  rawPartitionExpirationDays?: number;
  /** How raw rows land: a BigQuery subscription (default), or a pull subscription drained by `sink --target gcp`. */
  landing: 'bigquery' | 'pull';
  /**
   * The identity the BigQuery subscription writes the raw table as (bigqueryConfig.serviceAccountEmail).
   * Unset: the project's shared Pub/Sub service agent, so anyone who may create a subscription can
   * make it write the raw table.
   */
  subscriptionServiceAccount?: string;
  /** The Dataform repository id that `schedule` sets up and `status` reads (default: the pipeline's name). */
  dataformRepository: string;
  /**
   * The region of that repository: Dataform repositories are regional. Unset: `location` when it is a
   * region; with BigQuery's multi-regions US and EU it must be set.
   */
  dataformRegion?: string;
}

export interface GcpOptions {
  landing?: string;
  project?: string;
  location?: string;
  'project-number'?: string;
  'partition-expiration-days'?: number;
  'subscription-service-account'?: string;
  config?: string;
}

const LOCATION = /^(US|EU|[a-z]+-[a-z]+[0-9]+)$/;
const REGION = /^[a-z]+-[a-z]+[0-9]+$/;

function checkRepositoryId(id: string): void {
  if (!/^[a-z][a-z0-9-]{0,62}$/.test(id)) throw new UserError(`invalid Dataform repository id ${JSON.stringify(id)}: lowercase letters, digits and '-'`);
}

function checkRegion(region: string): void {
  if (!REGION.test(region)) throw new UserError(`invalid Dataform region ${JSON.stringify(region)}: a region such as europe-west1`);
}
const SERVICE_ACCOUNT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/;
/** The settings of `schedule --target gcp` (Dataform's own scheduler), in the same --config file. */
const SCHEDULE_CONFIG_KEYS = [
  'gitRemoteUrl', 'gitDefaultBranch', 'gitTokenSecretVersion', 'dataformRepository', 'dataformRegion', 'dataformServiceAccount',
  'incrementalEveryMinutes', 'releaseCron', 'auditCron', 'scheduleTimeZone',
] as const;
const CONFIG_KEYS = [
  'projectId', 'location', 'projectNumber', 'rawPartitionExpirationDays', 'landing', 'subscriptionServiceAccount',
  ...SCHEDULE_CONFIG_KEYS,
] as const;
type ConfigFile = Partial<Record<(typeof CONFIG_KEYS)[number], unknown>>;
const NUMERIC_CONFIG_KEYS = ['rawPartitionExpirationDays', 'incrementalEveryMinutes'] as const;

/** The --config file's settings: a JSON object of known keys only (a misspelt key must not be silently ignored). */
function readConfigFile(file: string | undefined): ConfigFile {
  if (!file) return {};
  if (!existsSync(file)) throw new UserError(`config file not found: ${file}`);
  const parsed = readJsonObject(file);
  const unknown = Object.keys(parsed).filter((key) => !(CONFIG_KEYS as readonly string[]).includes(key));
  if (unknown.length) throw new UserError(`${file}: unknown setting ${unknown.join(', ')} (known: ${CONFIG_KEYS.join(', ')})`);
  // A setting of the wrong type must not read as absent (a numeric projectId would fall back to the environment's project).
  for (const [key, value] of Object.entries(parsed)) {
    const numeric = (NUMERIC_CONFIG_KEYS as readonly string[]).includes(key);
    if (numeric ? typeof value !== 'number' : typeof value !== 'string' || value === '') {
      throw new UserError(`${file}: "${key}" must be ${numeric ? 'a number' : 'a non-empty string'}, got ${JSON.stringify(value)}`);
    }
  }
  return parsed;
}

const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);

/**
 * Flags win over the config file, which wins over the environment and dataform.json. The config file
 * is the one place meant to hold the project and location for every command (the runbook passes it
 * to each): a location given to `provision` alone would leave later commands on dataform.json's.
 */
export function resolveGcpSettings(project: ProjectConfig, options: GcpOptions): GcpSettings {
  const file = readConfigFile(options.config);
  const projectId = options.project ?? text(file.projectId) ?? process.env.GOOGLE_CLOUD_PROJECT ?? process.env.GCLOUD_PROJECT;
  if (!projectId) throw new UserError('no Google Cloud project: pass --project, set GOOGLE_CLOUD_PROJECT, or put projectId in --config');
  validateIdentifier('project', projectId, '--project / GOOGLE_CLOUD_PROJECT');
  const [location, locationSource] = options.location !== undefined ? [options.location, '--location']
    : text(file.location) ? [text(file.location)!, `"location" in ${options.config}`]
    : [project.location, `defaultLocation in ${project.projectDir}/dataform.json`];
  if (!LOCATION.test(location)) throw new UserError(`invalid location ${JSON.stringify(location)}: use US, EU or a region such as europe-west1`);
  const projectNumber = options['project-number'] ?? text(file.projectNumber);
  if (projectNumber !== undefined && !/^[0-9]{6,20}$/.test(projectNumber)) throw new UserError(`invalid project number ${JSON.stringify(projectNumber)}`);
  const expiration = options['partition-expiration-days'] ?? (typeof file.rawPartitionExpirationDays === 'number' ? file.rawPartitionExpirationDays : undefined);
  if (expiration !== undefined && !(Number.isInteger(expiration) && expiration > 0)) throw new UserError('the partition expiration must be a whole number of days');
  const landing = options.landing ?? text(file.landing) ?? 'bigquery';
  if (landing !== 'bigquery' && landing !== 'pull') throw new UserError(`landing must be "bigquery" or "pull", got ${JSON.stringify(landing)}`);
  const subscriptionServiceAccount = options['subscription-service-account'] ?? text(file.subscriptionServiceAccount);
  if (subscriptionServiceAccount !== undefined && !SERVICE_ACCOUNT.test(subscriptionServiceAccount)) {
    throw new UserError(`invalid service account ${JSON.stringify(subscriptionServiceAccount)}: expected NAME@PROJECT.iam.gserviceaccount.com`);
  }
  const dataformRepository = text(file.dataformRepository) ?? pipelineName(project);
  checkRepositoryId(dataformRepository);
  const dataformRegion = text(file.dataformRegion) ?? (REGION.test(location) ? location : undefined);
  if (dataformRegion !== undefined) checkRegion(dataformRegion);
  return { projectId, location, locationSource, projectNumber, rawPartitionExpirationDays: expiration, landing, subscriptionServiceAccount, dataformRepository, dataformRegion };
}

/** What `schedule --target gcp` sets up: a Dataform repository linked to git, its release and its two workflows. */
export interface ScheduleSettings {
  /** The Dataform repository id. */
  repository: string;
  /** Where the repository lives: Dataform repositories are regional, BigQuery's US and EU are not regions. */
  region: string;
  gitRemoteUrl: string;
  gitDefaultBranch: string;
  /** projects/P/secrets/S/versions/V: the Git provider's access token (the one manual step). */
  gitTokenSecretVersion: string;
  /** The identity the scheduled runs use (invocationConfig.serviceAccount). */
  serviceAccount: string;
  /** The incremental workflow runs every this many minutes (a divisor of 60, or 60). */
  incrementalEveryMinutes: number;
  /** When the release compiles the default branch: before the runs that execute it. */
  releaseCron: string;
  /** When the nightly audit runs. */
  auditCron: string;
  timeZone: string;
}

export interface ScheduleOptions {
  config?: string;
  'git-remote-url'?: string;
  'git-branch'?: string;
  'git-token-secret-version'?: string;
  'dataform-repository'?: string;
  'dataform-region'?: string;
  'service-account'?: string;
  'every-minutes'?: number;
  'release-cron'?: string;
  'audit-cron'?: string;
  'time-zone'?: string;
}

export const DEFAULT_INCREMENTAL_EVERY_MINUTES = 15;
/** Five minutes before each hour: every run of the hour executes code at most an hour old. */
export const DEFAULT_RELEASE_CRON = '55 * * * *';
export const DEFAULT_AUDIT_CRON = '0 3 * * *';

const SECRET_VERSION = /^projects\/([a-z0-9-]+)\/secrets\/([A-Za-z0-9_-]{1,255})\/versions\/([1-9][0-9]*|latest)$/;
const CRON_FIELD = /^[0-9*/,-]+$/;

function checkCron(name: string, value: string): string {
  const fields = value.trim().split(/\s+/);
  if (fields.length !== 5 || !fields.every((f) => CRON_FIELD.test(f))) {
    throw new UserError(`${name} must be a cron schedule of 5 fields (minute hour day month weekday), got ${JSON.stringify(value)}`);
  }
  return fields.join(' ');
}

/**
 * The schedule's settings: flags win over the --config file; the region defaults to the BigQuery
 * location when that is a region. Every value is checked here, so a bad one is one line before any call.
 */
export function resolveScheduleSettings(gcp: GcpSettings, options: ScheduleOptions): ScheduleSettings {
  const file = readConfigFile(options.config);
  const where = (flag: string, key: string) => `--${flag} or "${key}" in --config`;
  const required = (value: string | undefined, flag: string, key: string) => {
    if (!value) throw new UserError(`schedule needs ${where(flag, key)}`);
    return value;
  };
  const gitRemoteUrl = required(options['git-remote-url'] ?? text(file.gitRemoteUrl), 'git-remote-url', 'gitRemoteUrl');
  let url: URL;
  try {
    url = new URL(gitRemoteUrl);
  } catch {
    throw new UserError(`invalid git remote URL ${JSON.stringify(gitRemoteUrl)}`);
  }
  if (url.protocol !== 'https:' || url.username || url.password) {
    throw new UserError(`the git remote URL must be https:// without credentials in it (the token is a Secret Manager secret), got ${JSON.stringify(gitRemoteUrl)}`);
  }
  const gitDefaultBranch = options['git-branch'] ?? text(file.gitDefaultBranch) ?? 'main';
  if (!/^[A-Za-z0-9._/-]+$/.test(gitDefaultBranch) || gitDefaultBranch.includes('..') || gitDefaultBranch.startsWith('-')) {
    throw new UserError(`invalid git branch ${JSON.stringify(gitDefaultBranch)}`);
  }
  const gitTokenSecretVersion = required(options['git-token-secret-version'] ?? text(file.gitTokenSecretVersion), 'git-token-secret-version', 'gitTokenSecretVersion');
  if (!SECRET_VERSION.test(gitTokenSecretVersion)) {
    throw new UserError(`invalid secret version ${JSON.stringify(gitTokenSecretVersion)}: expected projects/PROJECT/secrets/SECRET/versions/NUMBER`);
  }
  const repository = options['dataform-repository'] ?? gcp.dataformRepository;
  checkRepositoryId(repository);
  const region = options['dataform-region'] ?? gcp.dataformRegion;
  if (!region) {
    throw new UserError(`the BigQuery location ${gcp.location} is a multi-region and Dataform repositories live in a region: set ${where('dataform-region', 'dataformRegion')} (e.g. ${gcp.location === 'EU' ? 'europe-west1' : 'us-central1'})`);
  }
  checkRegion(region);
  const serviceAccount = options['service-account'] ?? text(file.dataformServiceAccount) ?? `dataform-runner@${gcp.projectId}.iam.gserviceaccount.com`;
  if (!SERVICE_ACCOUNT.test(serviceAccount)) throw new UserError(`invalid service account ${JSON.stringify(serviceAccount)}: expected NAME@PROJECT.iam.gserviceaccount.com`);
  const every = options['every-minutes'] ?? (file.incrementalEveryMinutes === undefined ? DEFAULT_INCREMENTAL_EVERY_MINUTES : file.incrementalEveryMinutes);
  // A cron step that does not divide the hour runs at uneven intervals (*/25: :00, :25, :50, :00).
  if (typeof every !== 'number' || !Number.isInteger(every) || every < 1 || every > 60 || 60 % every !== 0) {
    throw new UserError(`the incremental interval must be a whole number of minutes dividing 60 (5, 10, 15, 20, 30, 60...), got ${JSON.stringify(every)}`);
  }
  const releaseCron = checkCron('the release cron', options['release-cron'] ?? text(file.releaseCron) ?? DEFAULT_RELEASE_CRON);
  const auditCron = checkCron('the audit cron', options['audit-cron'] ?? text(file.auditCron) ?? DEFAULT_AUDIT_CRON);
  const timeZone = options['time-zone'] ?? text(file.scheduleTimeZone) ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new UserError(`unknown time zone ${JSON.stringify(timeZone)}: use a tz database name such as Europe/Madrid`);
  }
  return { repository, region, gitRemoteUrl, gitDefaultBranch, gitTokenSecretVersion, serviceAccount, incrementalEveryMinutes: every, releaseCron, auditCron, timeZone };
}

/** The cron of the incremental workflow. */
export const incrementalCron = (everyMinutes: number) => (everyMinutes === 60 ? '0 * * * *' : `*/${everyMinutes} * * * *`);
