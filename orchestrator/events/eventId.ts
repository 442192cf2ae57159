import { hash } from 'node:crypto';

/** JSON.stringify's text for a value that is not an object or array; undefined for what it omits. */
const leaf = (value: unknown): string | undefined => JSON.stringify(value);

/** A key that JavaScript orders before the others in an object whatever the insertion order. */
const isIndexLike = (key: string) => key.length > 0 && key.charCodeAt(0) >= 0x30 && key.charCodeAt(0) <= 0x39;

type Frame = { array: unknown[]; next: number } | { object: Record<string, unknown>; keys: string[]; next: number; written: number };

/**
 * SPEC's canonical JSON: keys sorted (by UTF-16 code units, recursively), no insignificant whitespace,
 * strings and numbers as JSON.stringify writes them; members JSON.stringify omits (undefined) are
 * omitted. Give it the value the reader parsed (first occurrence of a repeated key, see json.ts).
 * Written with an explicit stack, so no depth of input exhausts the call stack.
 */
export function canonicalJson(value: unknown): string {
  const flat = flatObjectJson(value);
  if (flat !== undefined) return flat;
  let out = '';
  const stack: Frame[] = [];
  let current = value;
  for (;;) {
    if (current !== null && typeof current === 'object') {
      if (Array.isArray(current)) {
        out += '[';
        stack.push({ array: current, next: 0 });
      } else {
        out += '{';
        const object = current as Record<string, unknown>;
        stack.push({ object, keys: Object.keys(object).sort(), next: 0, written: 0 });
      }
    } else {
      out += leaf(current) ?? 'null';
    }
    // The next value to write, closing the containers that are done.
    let found = false;
    while (!found && stack.length > 0) {
      const frame = stack.at(-1)!;
      if ('array' in frame) {
        if (frame.next < frame.array.length) {
          if (frame.next > 0) out += ',';
          current = frame.array[frame.next++];
          found = true;
        } else {
          out += ']';
          stack.pop();
        }
      } else {
        while (frame.next < frame.keys.length) {
          const key = frame.keys[frame.next++];
          const member = frame.object[key];
          if (member !== null && typeof member !== 'object' && leaf(member) === undefined) continue;
          out += `${frame.written++ > 0 ? ',' : ''}${JSON.stringify(key)}:`;
          current = member;
          found = true;
          break;
        }
        if (!found) {
          out += '}';
          stack.pop();
        }
      }
    }
    if (!found) return out;
  }
}

/**
 * The common case at native speed: an object whose members are all strings, numbers, booleans or
 * null, copied in sorted key order for JSON.stringify. Undefined for anything else, including keys
 * that start with a digit, which JavaScript would reorder, and a "__proto__" key, which assignment
 * would not copy.
 */
function flatObjectJson(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  const sorted: Record<string, unknown> = {};
  for (const key of keys) {
    const member = object[key];
    if ((member !== null && typeof member === 'object') || isIndexLike(key) || key === '__proto__') return undefined;
    sorted[key] = member;
  }
  return JSON.stringify(sorted);
}

/** SPEC's event identity: lower-case hex SHA-256 of the canonical JSON. */
export function eventId(value: unknown): string {
  return hash('sha256', canonicalJson(value), 'hex');
}
