import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { UserError } from '../errors.js';

/** One record of a source file: its exact text and where it stands. */
export interface SourceRecord {
  text: string;
  /** 1-based index of the record in the file. */
  position: number;
  /** 1-based line on which the record starts. */
  line: number;
  /** The parsed value, or undefined when the text is not JSON (then `error` says why). */
  value?: unknown;
  error?: string;
}

export type FileShape = 'ndjson' | 'array' | 'concatenated';

function parse(text: string, position: number, line: number): SourceRecord {
  try {
    return { text, position, line, value: JSON.parse(text) };
  } catch (error) {
    return { text, position, line, error: error instanceof Error ? error.message : String(error) };
  }
}

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\ufeff';

/**
 * Splits JSON text into top-level values without parsing them: objects and arrays by bracket depth
 * (brackets inside strings ignored), strings by their closing quote, anything else up to the next
 * separator. Whitespace and commas between values are separators. With `unwrapArrays`, a `[` between
 * values opens a container whose elements are the values, and its `]` closes it. Holds one record.
 */
class ValueSplitter {
  private buffer = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private bare = false;
  private inContainer = false;
  private startLine = 0;

  constructor(
    private readonly unwrapArrays: boolean,
    private readonly emit: (text: string, line: number) => void,
    /** The line the first chunk starts on; newlines in the chunks move it on. */
    private line = 1,
  ) {}

  push(chunk: string): void {
    let start = this.buffer.length > 0 ? 0 : -1;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (c === '\n') this.line++;
      if (start < 0) {
        if (isSpace(c) || c === ',') continue;
        if (this.unwrapArrays && c === '[' && !this.inContainer) { this.inContainer = true; continue; }
        if (this.unwrapArrays && c === ']' && this.inContainer) { this.inContainer = false; continue; }
        start = i;
        this.startLine = this.line;
        this.bare = !(c === '{' || c === '[' || c === '"');
        this.depth = 0;
        this.inString = false;
        this.escaped = false;
        if (this.bare) continue;
      }
      if (this.bare) {
        if (isSpace(c) || c === ',' || c === '{' || c === '[' || (c === ']' && this.inContainer)) {
          this.emitValue(chunk.slice(start, i));
          start = -1;
          if (c === '\n') this.line--; // read again as a separator, counted then
          i--;
        }
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === '\\') this.escaped = true;
        else if (c === '"') this.inString = false;
      } else if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') this.depth--;
      if (this.depth <= 0 && !this.inString) {
        this.emitValue(chunk.slice(start, i + 1));
        start = -1;
      }
    }
    if (start >= 0) this.buffer += chunk.slice(start);
  }

  private emitValue(tail: string): void {
    this.emit(this.buffer + tail, this.startLine);
    this.buffer = '';
  }

  /** Emits whatever is buffered: a value truncated by the end of input (or of an NDJSON line) as it is. */
  finish(): void {
    if (this.buffer.trim().length > 0) this.emit(this.buffer.trimEnd(), this.startLine);
    this.buffer = '';
  }
}

/**
 * One NDJSON line: one record when it is a JSON value; each value when it holds several valid ones;
 * otherwise the whole line as a single bad record, so that the next line is read normally.
 */
function splitLine(text: string, line: number, positionBefore: number): SourceRecord[] {
  const whole = parse(text, positionBefore + 1, line);
  if (whole.error === undefined) return [whole];
  const pieces: string[] = [];
  const splitter = new ValueSplitter(false, (piece) => pieces.push(piece), line);
  splitter.push(text);
  splitter.finish();
  const records = pieces.map((piece, i) => parse(piece, positionBefore + 1 + i, line));
  return pieces.length > 0 && records.every((r) => r.error === undefined) ? records : [whole];
}

/** Past this much text with no newline after a leading `{`, the file is read as concatenated objects. */
const SHAPE_PROBE_LIMIT = 1 << 20;

/**
 * The shape, judged from the start of the text: `[` opens an array; a first line that is a lone `{`
 * starts pretty-printed objects; anything else is NDJSON (where one-line objects separated by commas
 * or spaces also work). Undefined while the start is not known yet.
 */
function shapeOf(head: string, ended: boolean): FileShape | undefined {
  const first = head.search(/[^\s\ufeff]/);
  if (first < 0) return ended ? 'ndjson' : undefined;
  if (head[first] === '[') return 'array';
  if (head[first] !== '{') return 'ndjson';
  const newline = head.indexOf('\n', first);
  if (newline < 0) return ended ? 'ndjson' : head.length > SHAPE_PROBE_LIMIT ? 'concatenated' : undefined;
  return head.slice(first, newline).trim() === '{' ? 'concatenated' : 'ndjson';
}

/**
 * Streams the records of a source file in any of SPEC's three shapes, in constant memory (one record
 * at a time, whatever the length of a line):
 * - NDJSON: each non-blank line is read on its own, so a bad line is one reject and the next line
 *   is read normally (a line holding several values yields each);
 * - a JSON array of objects, pretty-printed or all on one line: its elements;
 * - objects one after another, separated by whitespace and optionally commas.
 */
export async function* readRecords(stream: Readable): AsyncGenerator<SourceRecord & { shape: FileShape }> {
  stream.setEncoding('utf8');
  let shape: FileShape | undefined;
  let head = '';
  let splitter: ValueSplitter | undefined;
  let position = 0;
  let partialLine = '';
  let lineNumber = 0;
  const ready: SourceRecord[] = [];
  const collect = (text: string, line: number) => ready.push(parse(text, ++position, line));
  const ndjsonLine = (line: string) => {
    lineNumber++;
    const trimmed = line.replace(/\r$/, '').trim();
    if (trimmed === '') return;
    const records = splitLine(trimmed, lineNumber, position);
    position += records.length;
    ready.push(...records);
  };
  const feed = (text: string) => {
    if (shape !== 'ndjson') return splitter!.push(text);
    const parts = (partialLine + text).split('\n');
    partialLine = parts.pop()!;
    for (const part of parts) ndjsonLine(part);
  };
  const decide = (ended: boolean) => {
    shape = shapeOf(head, ended);
    if (shape === undefined) return;
    if (shape !== 'ndjson') splitter = new ValueSplitter(shape === 'array', collect);
    const text = head.replace(/^\ufeff/, '');
    head = '';
    feed(text);
  };

  for await (const chunk of stream as AsyncIterable<string>) {
    if (shape === undefined) {
      head += chunk;
      decide(false);
    } else {
      feed(chunk);
    }
    for (const record of ready.splice(0)) yield { ...record, shape: shape! };
  }
  if (shape === undefined) decide(true);
  if (shape === 'ndjson' && partialLine !== '') ndjsonLine(partialLine);
  splitter?.finish();
  for (const record of ready.splice(0)) yield { ...record, shape: shape ?? 'ndjson' };
}

/** Opens a local source file as a stream, with its size for progress. */
export async function openSourceFile(file: string): Promise<{ stream: Readable; bytes: number }> {
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new UserError(`input file not found: ${file}`);
  if (!info.isFile()) throw new UserError(`input is not a file: ${file}`);
  return { stream: createReadStream(file, { highWaterMark: 1 << 20 }), bytes: info.size };
}
