import { existsSync, readFileSync } from 'node:fs';
import type { ProjectConfig } from '../config.js';
import { UserError, errorMessage } from '../errors.js';
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
  /**
   * The Dataform repository whose scheduled runs `status` reads: an id (in `location`, which must
   * then be a region: Dataform has no multi-region), REGION/ID, or its full resource name.
   */
  dataformRepository: string;
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
const SERVICE_ACCOUNT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/;
const DATAFORM_REPOSITORY = /^(?:projects\/[a-z][a-z0-9-]{4,28}[a-z0-9]\/locations\/[a-z]+-[a-z]+[0-9]+\/repositories\/|[a-z]+-[a-z]+[0-9]+\/)?[A-Za-z0-9_-]{1,63}$/;
const CONFIG_KEYS = ['projectId', 'location', 'projectNumber', 'rawPartitionExpirationDays', 'landing', 'subscriptionServiceAccount', 'dataformRepository'] as const;

/**
 * Flags win over the config file, which wins over the environment and dataform.json. The config file
 * is the one place meant to hold the project and location for every command (the runbook passes it
 * to each): a location given to `provision` alone would leave later commands on dataform.json's.
 */
export function resolveGcpSettings(project: ProjectConfig, options: GcpOptions): GcpSettings {
  let file: Partial<Record<(typeof CONFIG_KEYS)[number], unknown>> = {};
  if (options.config) {
    if (!existsSync(options.config)) throw new UserError(`config file not found: ${options.config}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(options.config, 'utf8'));
    } catch (error) {
      throw new UserError(`${options.config} is not valid JSON: ${errorMessage(error)}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UserError(`${options.config} must hold a JSON object`);
    file = parsed;
    const unknown = Object.keys(file).filter((key) => !(CONFIG_KEYS as readonly string[]).includes(key));
    if (unknown.length) throw new UserError(`${options.config}: unknown setting ${unknown.join(', ')} (known: ${CONFIG_KEYS.join(', ')})`);
  }
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
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
  if (!DATAFORM_REPOSITORY.test(dataformRepository)) {
    throw new UserError(`invalid dataformRepository ${JSON.stringify(dataformRepository)}: expected ID, REGION/ID or projects/PROJECT/locations/REGION/repositories/ID`);
  }
  return { projectId, location, locationSource, projectNumber, rawPartitionExpirationDays: expiration, landing, subscriptionServiceAccount, dataformRepository };
}
