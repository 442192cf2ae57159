import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError, errorMessage } from './errors.js';
import { type Target, validateBucketName, validateIdentifier, validatePubSubName, validateTarget } from './identifiers.js';

/** The repository root: the Dataform project ships with the orchestrator. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ProjectConfig {
  projectDir: string;
  /** The Google Cloud project (Dataform's defaultDatabase). */
  database: string;
  modelsDataset: string;
  assertionsDataset: string;
  /** BigQuery location of the datasets (dataform.json's defaultLocation). */
  location: string;
  vars: Record<string, string>;
  raw: Target;
  resources: PipelineResources;
}

/** Every name the pipeline creates, from dataform.json's vars: the one place that names them. */
export interface PipelineResources {
  topic: string;
  rawSubscription: string;
  deadLetterTopic: string;
  deadLetterSubscription: string;
  bucket: string;
}

/** A settings file's JSON object; a file that is not one is a user's error, said in one line. */
export function readJsonObject(file: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UserError(`${file} is not valid JSON: ${errorMessage(error)}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UserError(`${file} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

/** Reads and validates dataform.json: the one place that names the project, datasets and raw table. */
export function loadProjectConfig(projectDir: string): ProjectConfig {
  const file = path.join(projectDir, 'dataform.json');
  if (!existsSync(file)) throw new UserError(`no dataform.json in ${projectDir}`);
  const json: {
    defaultDatabase?: unknown; defaultSchema?: unknown; assertionSchema?: unknown; defaultLocation?: unknown; vars?: Record<string, unknown>;
  } = readJsonObject(file);
  const text = (value: unknown, key: string): string => {
    if (typeof value !== 'string' || value === '') throw new UserError(`${file}: ${key} must be a non-empty string`);
    return value;
  };
  const vars = Object.fromEntries(Object.entries(json.vars ?? {}).map(([k, v]) => [k, text(v, `vars.${k}`)]));
  const database = validateIdentifier('project', text(json.defaultDatabase, 'defaultDatabase'), file);
  const raw = validateTarget(
    { database, schema: text(vars.rawDataset, 'vars.rawDataset'), name: text(vars.rawTable, 'vars.rawTable') },
    file,
  );
  return {
    projectDir,
    database,
    modelsDataset: validateIdentifier('dataset', text(json.defaultSchema, 'defaultSchema'), file),
    assertionsDataset: validateIdentifier('dataset', text(json.assertionSchema, 'assertionSchema'), file),
    location: text(json.defaultLocation ?? 'US', 'defaultLocation'),
    vars,
    raw,
    resources: {
      topic: validatePubSubName(text(vars.topic, 'vars.topic'), file),
      rawSubscription: validatePubSubName(text(vars.rawSubscription, 'vars.rawSubscription'), file),
      deadLetterTopic: validatePubSubName(text(vars.deadLetterTopic, 'vars.deadLetterTopic'), file),
      deadLetterSubscription: validatePubSubName(text(vars.deadLetterSubscription, 'vars.deadLetterSubscription'), file),
      bucket: validateBucketName(text(vars.bucket, 'vars.bucket'), file),
    },
  };
}

/** Where local state lives: the DuckDB file and, later, the emulator's pid and the bucket folder. */
export interface Workdir {
  dir: string;
  warehouseFile: string;
  /** The local stand-in for Cloud Storage: one folder per bucket. */
  bucketsDir: string;
  emulatorStateFile: string;
  emulatorLogFile: string;
}

export function resolveWorkdir(dir: string): Workdir {
  const absolute = path.resolve(dir);
  return {
    dir: absolute,
    warehouseFile: path.join(absolute, 'warehouse.duckdb'),
    bucketsDir: path.join(absolute, 'buckets'),
    emulatorStateFile: path.join(absolute, 'emulator.json'),
    emulatorLogFile: path.join(absolute, 'emulator.log'),
  };
}
