import type { BigQuery, DatasetResource } from '@google-cloud/bigquery';
import type { ProjectConfig } from '../config.js';
import { UserError } from '../errors.js';
import type { GcpSettings } from './settings.js';

export interface LocationCheck {
  location: string;
  source: string;
  /** Each existing dataset's location. */
  datasets: Record<string, string>;
  /** A sentence per dataset elsewhere than `location`. */
  mismatches: string[];
}

/**
 * Reads where the pipeline's datasets are. BigQuery runs a job where its datasets are, and Dataform
 * creates a missing dataset in the location it is given: a run with another location than the one
 * the datasets were provisioned in would fail, or put new datasets in the wrong place.
 */
export async function readDatasetLocations(project: ProjectConfig, settings: GcpSettings, bigquery: BigQuery): Promise<LocationCheck> {
  const datasets: Record<string, string> = {};
  for (const datasetId of [project.raw.schema, project.modelsDataset, project.assertionsDataset]) {
    const dataset = bigquery.dataset(datasetId);
    const [exists] = await dataset.exists();
    if (exists) datasets[datasetId] = ((await dataset.getMetadata())[0] as DatasetResource).location ?? '';
  }
  const mismatches = Object.entries(datasets)
    .filter(([, location]) => location.toUpperCase() !== settings.location.toUpperCase())
    .map(([datasetId, location]) => `dataset ${datasetId} is in ${location}`);
  return { location: settings.location, source: settings.locationSource, datasets, mismatches };
}

/** Before a run: the raw dataset exists, and every dataset is in the location the run will use. */
export async function checkLocation(project: ProjectConfig, settings: GcpSettings, bigquery: BigQuery): Promise<void> {
  const check = await readDatasetLocations(project, settings, bigquery);
  if (!(project.raw.schema in check.datasets)) {
    throw new UserError(`dataset ${project.raw.schema} does not exist in ${settings.projectId}: run 'orchestrator provision --target gcp' first`);
  }
  if (check.mismatches.length) {
    throw new UserError(`location ${settings.location} (from ${settings.locationSource}) does not match: ${check.mismatches.join(', ')}. ` +
      'Keep the location in one place: "location" in the --config file every command is given');
  }
}
