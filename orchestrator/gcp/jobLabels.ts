/**
 * The labels every BigQuery job the pipeline starts carries, so the billing export (and
 * INFORMATION_SCHEMA.JOBS) can attribute cost: `pipeline` names the pipeline, `step` the command.
 * BigQuery label keys and values: at most 63 characters of lowercase letters, digits, '_' and '-'.
 */
export const PIPELINE_NAME = 'chat-elt-pipeline';

export type PipelineStep = 'transform' | 'assert' | 'status' | 'report';

export function jobLabels(step: PipelineStep): Record<string, string> {
  return { pipeline: PIPELINE_NAME, step };
}
