import { UserError } from './errors.js';

/** Google's naming rules, checked before any name from config reaches SQL or an API call. */
const RULES = {
  project: { pattern: /^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, rule: '6-30 lower-case letters, digits or hyphens, starting with a letter' },
  dataset: { pattern: /^[A-Za-z_][A-Za-z0-9_]{0,1023}$/, rule: 'letters, digits and underscores, not starting with a digit' },
  table: { pattern: /^[A-Za-z_][A-Za-z0-9_]{0,1023}$/, rule: 'letters, digits and underscores, not starting with a digit' },
  column: { pattern: /^[A-Za-z_][A-Za-z0-9_]{0,299}$/, rule: 'letters, digits and underscores, not starting with a digit' },
} as const;

export type IdentifierKind = keyof typeof RULES;

export function validateIdentifier(kind: IdentifierKind, value: string, origin: string): string {
  const { pattern, rule } = RULES[kind];
  if (!pattern.test(value)) {
    throw new UserError(`invalid ${kind} name ${JSON.stringify(value)} in ${origin}: use ${rule}`);
  }
  return value;
}

export interface Target {
  database: string;
  schema: string;
  name: string;
}

export function validateTarget(target: Target, origin: string): Target {
  validateIdentifier('project', target.database, origin);
  validateIdentifier('dataset', target.schema, origin);
  validateIdentifier('table', target.name, origin);
  return target;
}

export function targetKey(target: Target): string {
  return `${target.database}.${target.schema}.${target.name}`;
}

const PUBSUB_NAME = /^(?!goog)[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/;
const BUCKET_NAME = /^(?!goog)[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$/;

/** Pub/Sub topic and subscription ids: 3-255 characters, starting with a letter, not with "goog". */
export function validatePubSubName(value: string, origin: string): string {
  if (!PUBSUB_NAME.test(value)) {
    throw new UserError(`invalid Pub/Sub name ${JSON.stringify(value)} in ${origin}: 3-255 letters, digits or - _ . ~ + %, starting with a letter`);
  }
  return value;
}

/** Cloud Storage bucket names: 3-63 lower-case letters, digits, dots, hyphens or underscores. */
export function validateBucketName(value: string, origin: string): string {
  if (!BUCKET_NAME.test(value) || value.includes('..')) {
    throw new UserError(`invalid bucket name ${JSON.stringify(value)} in ${origin}: 3-63 lower-case letters, digits, '.', '-' or '_'`);
  }
  return value;
}
