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
