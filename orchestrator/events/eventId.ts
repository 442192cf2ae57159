import { createHash } from 'node:crypto';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const sorted: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) sorted[key] = sortKeys(value[key]!);
    return sorted;
  }
  return value;
}

/** SPEC's canonical JSON: keys sorted recursively, no insignificant whitespace, JSON.stringify's strings and numbers. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value as Json));
}

/** SPEC's event identity: lower-case hex SHA-256 of the canonical JSON. */
export function eventId(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value), 'utf8').digest('hex');
}
