import type { protos, v1 } from '@google-cloud/dataform';
import { isNotFound } from './clients.js';
import type { GcpSettings } from './settings.js';
import { isoOfProtobufTimestamp } from '../protobufTime.js';

type DataformClient = v1.DataformClient;
type WorkflowConfig = protos.google.cloud.dataform.v1.IWorkflowConfig;

/** Invocations shown per workflow configuration, newest first. */
export const INVOCATIONS_PER_WORKFLOW = 3;

export interface FailedAction {
  /** The action's `database.schema.name`. */
  action: string;
  reason: string;
}

/** One attempt of the scheduler: the invocation it started, or why it could start none. */
export interface ScheduledInvocation {
  /** When the scheduler fired. */
  scheduledAt: string | null;
  invocation: string | null;
  /** RUNNING, SUCCEEDED, CANCELLED, FAILED, CANCELING, or NOT_STARTED when the scheduler could not create it. */
  state: string;
  startTime: string | null;
  endTime: string | null;
  durationSeconds: number | null;
  /** The scheduler's error when it could not create the invocation (a compilation that failed, a missing permission). */
  error?: string;
  /** For a FAILED invocation, the actions that failed and Dataform's reason. */
  failedActions?: FailedAction[];
}

export interface WorkflowRuns {
  workflowConfig: string;
  cronSchedule: string | null;
  timeZone: string | null;
  disabled: boolean;
  invocations: ScheduledInvocation[];
}

export interface ScheduledRuns {
  repository: string;
  scheduled: boolean;
  /** Why nothing is scheduled, when nothing is. */
  reason?: string;
  workflows: WorkflowRuns[];
}

/** The repository's resource name: Dataform repositories are regional, so a multi-region location needs `dataformRegion`. */
export function dataformRepositoryName(settings: GcpSettings): string | { unplaced: string } {
  if (!settings.dataformRegion) {
    return { unplaced: `Dataform has no multi-region location ${settings.location}: set "dataformRegion" in --config (the region the repository is in)` };
  }
  return `projects/${settings.projectId}/locations/${settings.dataformRegion}/repositories/${settings.dataformRepository}`;
}


function shortName(name: string | null | undefined): string {
  return (name ?? '').split('/').at(-1) ?? '';
}

async function failedActions(client: DataformClient, invocation: string): Promise<FailedAction[]> {
  const [actions] = await client.queryWorkflowInvocationActions({ name: invocation });
  return actions
    .filter((a) => String(a.state) === 'FAILED')
    .map((a) => ({
      action: [a.target?.database, a.target?.schema, a.target?.name].filter(Boolean).join('.'),
      reason: a.failureReason ?? '',
    }));
}

async function invocationsOf(client: DataformClient, config: WorkflowConfig): Promise<ScheduledInvocation[]> {
  // Documented newest first (by executionTime); sorted again so that nothing rests on it.
  const records = [...(config.recentScheduledExecutionRecords ?? [])]
    .sort((a, b) => Number(b.executionTime?.seconds ?? 0) - Number(a.executionTime?.seconds ?? 0))
    .slice(0, INVOCATIONS_PER_WORKFLOW);
  const shown: ScheduledInvocation[] = [];
  for (const record of records) {
    const scheduledAt = isoOfProtobufTimestamp(record.executionTime);
    if (!record.workflowInvocation) {
      shown.push({ scheduledAt, invocation: null, state: 'NOT_STARTED', startTime: null, endTime: null, durationSeconds: null, error: record.errorStatus?.message ?? 'no invocation was created' });
      continue;
    }
    const [invocation] = await client.getWorkflowInvocation({ name: record.workflowInvocation });
    const startTime = isoOfProtobufTimestamp(invocation.invocationTiming?.startTime);
    const endTime = isoOfProtobufTimestamp(invocation.invocationTiming?.endTime);
    const state = String(invocation.state ?? 'STATE_UNSPECIFIED');
    shown.push({
      scheduledAt, invocation: record.workflowInvocation, state, startTime, endTime,
      durationSeconds: startTime && endTime ? (Date.parse(endTime) - Date.parse(startTime)) / 1000 : null,
      ...(state === 'FAILED' ? { failedActions: await failedActions(client, record.workflowInvocation) } : {}),
    });
  }
  return shown;
}

/**
 * The last scheduled runs of each workflow configuration of the repository. A workflow
 * configuration keeps the records of its last scheduled attempts, newest first, including the
 * attempts that could not start an invocation; listing the repository's invocations instead would
 * page through every invocation ever made (the API orders them by name only) and miss those.
 * Calls: one list, then per workflow configuration one get per invocation shown and one query of
 * the actions of each failed one.
 */
export async function readScheduledRuns(client: DataformClient, repository: string): Promise<ScheduledRuns> {
  let configs: WorkflowConfig[];
  try {
    [configs] = await client.listWorkflowConfigs({ parent: repository });
  } catch (error) {
    if (isNotFound(error)) return { repository, scheduled: false, reason: `no Dataform repository ${repository}`, workflows: [] };
    throw error;
  }
  if (configs.length === 0) return { repository, scheduled: false, reason: 'the repository has no workflow configuration', workflows: [] };
  const workflows: WorkflowRuns[] = [];
  for (const config of [...configs].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? ''))) {
    workflows.push({
      workflowConfig: shortName(config.name),
      cronSchedule: config.cronSchedule || null,
      timeZone: config.timeZone || null,
      disabled: config.disabled === true,
      invocations: await invocationsOf(client, config),
    });
  }
  return { repository, scheduled: true, workflows };
}
