import type { ProjectConfig } from '../config.js';
import { UserError } from '../errors.js';

/**
 * The labels every BigQuery job the orchestrator starts carries, so that the billing export
 * (`labels` of the jobs in the billing export, or INFORMATION_SCHEMA.JOBS) attributes the cost to
 * this pipeline and to the step that spent it.
 */
export const PIPELINE_LABEL = 'pipeline';
export const STEP_LABEL = 'step';

/** The steps that start BigQuery jobs (their `step` label value). */
export type JobStep = 'transform' | 'assert' | 'status' | 'report';

/** The pipeline's name when dataform.json's vars name none. */
export const DEFAULT_PIPELINE_NAME = 'chat-elt-pipeline';

/** BigQuery's rule for a label value (lower-case, digits, `_` and `-`, at most 63 characters; international letters left out). */
const LABEL_VALUE = /^[a-z0-9_-]{1,63}$/;

/** The pipeline's name: `vars.pipeline` in dataform.json, else "chat-elt-pipeline". It is a label value, so it follows their rule. */
export function pipelineName(project: ProjectConfig): string {
  const name = (project.vars.pipeline as string | undefined) ?? DEFAULT_PIPELINE_NAME;
  if (!LABEL_VALUE.test(name)) {
    throw new UserError(`vars.pipeline ${JSON.stringify(name)} in ${project.projectDir}/dataform.json is not a BigQuery label value: use at most 63 lower-case letters, digits, _ or -`);
  }
  return name;
}

/** The labels of a BigQuery job started by `step` (the `labels` of jobs.query or of a job's configuration). */
export function jobLabels(project: ProjectConfig, step: JobStep): Record<string, string> {
  return { [PIPELINE_LABEL]: pipelineName(project), [STEP_LABEL]: step };
}
