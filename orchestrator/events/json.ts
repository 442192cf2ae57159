/**
 * A record's JSON value as the warehouse reads it, so that the publisher's event_id and the models'
 * stored fields describe the same object (SPEC):
 *
 * - **Depth.** A text nested deeper than MAX_JSON_DEPTH levels of objects and arrays is not JSON for
 *   this pipeline. 500 is BigQuery's documented nesting limit of its JSON type (what PARSE_JSON makes),
 *   the lowest limit of the engines: ZetaSQL's evaluator reads up to 1000 levels in JSON_VALUE and
 *   JSON_QUERY on a STRING and raises OUT_OF_RANGE past them (an error, not NULL); DuckDB's json
 *   functions accept any depth (measured up to 100,000).
 * - **Repeated keys.** The first occurrence of a key wins, as in BigQuery's and DuckDB's JSON
 *   functions; JSON.parse keeps the last.
 *
 * Nothing here recurses on the depth of its input: a value nested a million levels deep is read in
 * a loop (V8's JSON.parse is iterative too).
 */
export const MAX_JSON_DEPTH = 500;

export type ParsedJson = { value: unknown; error?: undefined } | { value?: undefined; error: string };

/** What one pass over a text counts: its deepest nesting, and the keys of its objects, repeats included. */
export interface JsonCounts {
  depth: number;
  keys: number;
}

/**
 * Counts nesting and keys outside strings. On valid JSON a ':' outside a string follows a key, so the
 * colons are the keys; on other text the counts mean nothing (JSON.parse rejects it first).
 */
export function countJson(text: string): JsonCounts {
  let depth = 0;
  let deepest = 0;
  let keys = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > deepest) deepest = depth;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
    else if (c === COLON) keys++;
  }
  return { depth: deepest, keys };
}

/**
 * Parses one record's text. `counts` are the text's nesting and key counts when the caller has them
 * (the reader's tokenizer does); otherwise only what is needed is counted: the nesting only on a text
 * long enough to be too deep, the keys first by a cheap bound.
 */
export function parseJson(text: string, counts?: JsonCounts): ParsedJson {
  // Each level of nesting takes two characters.
  if (counts === undefined && text.length > 2 * MAX_JSON_DEPTH) counts = countJson(text);
  if (counts !== undefined && counts.depth > MAX_JSON_DEPTH) return { error: `nested deeper than ${MAX_JSON_DEPTH} levels, the warehouse's JSON limit` };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
  if (value === null || typeof value !== 'object') return { value };
  // JSON.parse keeps one entry per key, so fewer entries than keys in the text means a key repeats.
  const entries = countEntries(value);
  if (entries !== (counts?.keys ?? keyBound(text)) && entries !== (counts ?? countJson(text)).keys) value = parseValidJsonFirstKeyWins(text);
  return { value };
}

/**
 * At least the number of keys in a JSON text, cheaply: the colons that follow a quote (and JSON
 * whitespace). A colon inside a string can make it more, never less.
 */
function keyBound(text: string): number {
  let keys = 0;
  for (let colon = text.indexOf(':'); colon >= 0; colon = text.indexOf(':', colon + 1)) {
    let before = colon - 1;
    for (let c = text.charCodeAt(before); c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09; c = text.charCodeAt(--before));
    if (text.charCodeAt(before) === QUOTE) keys++;
  }
  return keys;
}

/** Entries of every object in a parsed value, without recursion. */
function countEntries(root: object): number {
  let entries = 0;
  const pending: object[] = [root];
  while (pending.length > 0) {
    const value = pending.pop()!;
    if (Array.isArray(value)) {
      for (const child of value as unknown[]) if (child !== null && typeof child === 'object') pending.push(child);
      continue;
    }
    for (const key in value) {
      entries++;
      const child = (value as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') pending.push(child);
    }
  }
  return entries;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

type Container = { object: Record<string, unknown>; key?: string } | { array: unknown[] };

/**
 * JSON.parse's value, except that the first occurrence of a repeated key wins. Only for text that
 * JSON.parse accepted: it skips what it does not need to check (separators, the grammar). Strings and
 * numbers are decoded by JSON.parse and Number, so they come out exactly as JSON.parse's would.
 */
function parseValidJsonFirstKeyWins(text: string): unknown {
  const stack: Container[] = [];
  let root: unknown;
  const put = (value: unknown) => {
    const top = stack.at(-1);
    if (top === undefined) root = value;
    else if ('array' in top) top.array.push(value);
    else {
      // defineProperty, not assignment: a "__proto__" key must stay an own entry, as in JSON.parse.
      if (!Object.hasOwn(top.object, top.key!)) Object.defineProperty(top.object, top.key!, { value, enumerable: true, writable: true, configurable: true });
      top.key = undefined;
    }
  };
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      let end = i + 1;
      let escaped = false;
      for (; text.charCodeAt(end) !== QUOTE; end++) {
        if (text.charCodeAt(end) === BACKSLASH) { escaped = true; end++; }
      }
      const string = escaped ? (JSON.parse(text.slice(i, end + 1)) as string) : text.slice(i + 1, end);
      const top = stack.at(-1);
      if (top !== undefined && 'object' in top && top.key === undefined) top.key = string;
      else put(string);
      i = end + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      const container: Container = c === OPEN_BRACE ? { object: {} } : { array: [] };
      put('object' in container ? container.object : container.array);
      stack.push(container);
      i++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      stack.pop();
      i++;
    } else if (c === 0x74 /* t */) { put(true); i += 4; }
    else if (c === 0x66 /* f */) { put(false); i += 5; }
    else if (c === 0x6e /* n */) { put(null); i += 4; }
    else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const number = NUMBER.exec(text)![0];
      put(Number(number));
      i += number.length;
    } else i++; // whitespace, ',' and ':'
  }
  return root;
}
