import { createReadStream, realpathSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { UserError } from '../errors.js';
import { statInputFile } from '../storage/inputFile.js';
import { parseJson, type JsonCounts, type ParsedJson } from './json.js';

/** One record of a source file: its exact text and where it stands. */
export interface SourceRecord {
  text: string;
  /** 1-based index of the record in the file. */
  position: number;
  /** 1-based line on which the record starts. */
  line: number;
  /** The parsed value (first occurrence of a repeated key), or undefined when the text is not JSON (then `error` says why). */
  value?: unknown;
  error?: string;
}

/**
 * Past this much text of held records on one line, the line's records are let go (see RecordSplitter):
 * memory stays bounded on a file that is one long line of objects.
 */
const HOLD_LIMIT = 1 << 20;
/** A bad record on a long line ends here at the latest. Above Pub/Sub's 10 MB, so it is too large either way. */
const BAD_RECORD_LIMIT = 16 << 20;

// Character codes.
const NEWLINE = 0x0a;
const RETURN = 0x0d;
const SPACE = 0x20;
const TAB = 0x09;
const BOM = 0xfeff;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** What the tokenizer expects next inside a value. */
const enum Expect { Value, ValueOrClose, Key, KeyOrClose, Colon, CommaOrClose }

const isBlank = (c: number) => c === SPACE || c === TAB || c === RETURN;
const isScalarChar = (c: number) =>
  (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x2d || c === 0x2b || c === 0x2e;
const isNumberText = (text: string, start: number, end: number) => {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45)) return false;
  }
  return true;
};

interface Span { start: number; end: number; line: number; counts?: JsonCounts }

/**
 * Splits decoded text into records, chunk by chunk, in one pass and without recursion: SPEC's three
 * shapes in any layout (one object per line, objects pretty-printed over many lines, several on one
 * line, with or without commas between them, and mixes of these; or one JSON array of them).
 *
 * A tokenizer checks each value's structure as it goes, so a value ends where JSON says it ends and a
 * broken one is noticed where it breaks. The rules for broken text keep NDJSON's promise (a bad line
 * is one reject, and the next line is read normally) without splitting valid multi-line objects:
 * - a value still open at the end of its line continues on the next lines;
 * - an error on the line where the failing value starts makes that whole line one bad record (the
 *   records already read on that line are held until it ends, for this);
 * - an error on a later line makes the value's first line one bad record, and reading starts again
 *   at the next line, reading each line up to the error's line on its own (no value may continue
 *   past its line there), so no line is read more than about three times;
 * - inside the array of an array file, records are the array's elements: a broken element is one bad
 *   record, from its start to where its brackets balance or its line ends, and the elements around
 *   it are read normally; the same holds on a line longer than HOLD_LIMIT;
 * - a record nested deeper than MAX_JSON_DEPTH, or not JSON, comes out with an `error`.
 */
class RecordSplitter {
  private buffer = '';
  /** How much text was dropped from the buffer's front: buffer index + dropped = offset in the input. */
  private dropped = 0;
  /** Scan position in `buffer`. */
  private i = 0;
  private line = 1;
  private started = false;
  private atLineStart = true;
  private arrayFile = false;
  private inContainer = false;

  // The value being read.
  private valueStart = -1;
  private valueLine = 0;
  private stack: number[] = [];
  /** For each open container: where it starts if it is nested and starts its line, else -1 (absolute offsets). */
  private openedAt: number[] = [];
  /** The value's nested containers that started a line and closed: start to end, absolute offsets. */
  private nested = new Map<number, number>();
  private expect = Expect.Value;
  private inString = false;
  private escaped = false;
  private stringIsKey = false;
  private scalarStart = -1;
  private depth = 0;
  private keys = 0;

  /** Records read on this line, held until it ends (outside an array file's array). */
  private held: Span[] = [];
  /** This line's held records exceeded HOLD_LIMIT and were let go: a bad value is rejected alone. */
  private longLine = false;
  /** Lines before this one are being read again after an error, each on its own. */
  private recoverUntil = 0;
  /** The failed value's `nested`: a whole object or array there is read again as a record. */
  private recovery = new Map<number, number>();

  /** Skipping the rest of a bad line: where its bad record starts. */
  private badStart = -1;
  private badLine = 0;
  private failure = { at: 0, depth: 0, valueStart: 0 };
  /** Resynchronising after a bad value: its bracket depth and string state. */
  private resyncing = false;
  private resyncDepth = 0;
  private resyncInString = false;
  private resyncEscaped = false;

  constructor(private readonly emit: (text: string, line: number, parsed: ParsedJson) => void) {}

  push(text: string): void {
    this.buffer += text;
    this.scan(false);
    this.trim();
  }

  finish(): void {
    this.scan(true);
    this.buffer = '';
  }

  /** Drops the text no record can need any more. */
  private trim(): void {
    let keep = this.i;
    if (this.held.length > 0) keep = Math.min(keep, this.held[0].start);
    if (this.valueStart >= 0) keep = Math.min(keep, this.valueStart);
    if (this.badStart >= 0) keep = Math.min(keep, this.badStart);
    if (keep === 0) return;
    this.dropped += keep;
    this.buffer = this.buffer.slice(keep);
    this.i -= keep;
    for (const span of this.held) { span.start -= keep; span.end -= keep; }
    if (this.valueStart >= 0) this.valueStart -= keep;
    if (this.scalarStart >= 0) this.scalarStart -= keep;
    if (this.badStart >= 0) { this.badStart -= keep; this.failure.at -= keep; this.failure.valueStart -= keep; }
  }

  private scan(ended: boolean): void {
    const text = this.buffer;
    for (;;) {
      while (this.i < text.length) {
        if (this.atLineStart) {
          this.atLineStart = false;
          if (this.valueStart < 0 && this.badStart < 0 && !this.resyncing && (this.recoverNested() || this.wholeLine())) continue;
        }
        const c = text.charCodeAt(this.i);
        if (this.badStart >= 0) this.skipBadLine(c);
        else if (this.resyncing) this.resync(c);
        else if (this.inString) this.stringChar();
        else if (this.scalarStart >= 0) this.scalar();
        else if (this.valueStart < 0) this.between(c);
        else this.inValue(c);
      }
      if (!ended || !this.endOfInput()) return;
    }
  }

  /** At the end of input, closes what is open; true when part of the text must be read again. */
  private endOfInput(): boolean {
    const end = this.buffer.length;
    if (this.badStart >= 0) {
      this.held = [];
      this.emitBad(this.badStart, end, this.badLine);
      this.badStart = -1;
    } else if (this.resyncing) {
      this.emitBad(this.valueStart, end, this.valueLine);
      this.resetValue();
      this.resyncing = false;
    } else if (this.scalarStart >= 0 && this.stack.length === 0) {
      this.endScalar();
      return true;
    } else if (this.valueStart >= 0) {
      this.fail(end);
      return true;
    }
    this.commitHeld();
    return false;
  }

  /**
   * The common case, at JSON.parse's speed: a whole line in the buffer that is one JSON object on its
   * own, which the tokenizer would read as one record too. False to let the tokenizer read the line.
   */
  private wholeLine(): boolean {
    const text = this.buffer;
    const end = text.indexOf('\n', this.i);
    if (end < 0) return false;
    let start = this.i;
    let last = end - 1;
    while (start < end && isBlank(text.charCodeAt(start))) start++;
    while (last > start && isBlank(text.charCodeAt(last))) last--;
    if (text.charCodeAt(start) !== OPEN_BRACE || text.charCodeAt(last) !== CLOSE_BRACE) return false;
    const record = text.slice(start, last + 1);
    const parsed = parseJson(record);
    if (parsed.error !== undefined) return false;
    if (!this.started) this.started = true;
    this.emit(record, this.line, parsed);
    this.i = end;
    return true;
  }

  /**
   * On a line read again after a broken multi-line value: an object or array that starts the line and
   * was whole inside the broken value (a pretty-printed record swallowed by a truncated one before
   * it) is a record again, without reading its lines a third time.
   */
  private recoverNested(): boolean {
    if (this.recovery.size === 0) return false;
    if (this.line >= this.recoverUntil) {
      this.recovery = new Map();
      return false;
    }
    const text = this.buffer;
    let start = this.i;
    while (start < text.length && isBlank(text.charCodeAt(start))) start++;
    const end = this.recovery.get(start + this.dropped);
    if (end === undefined) return false;
    this.held.push({ start, end: end - this.dropped, line: this.line });
    for (let n = text.indexOf('\n', start); n >= 0 && n < end - this.dropped; n = text.indexOf('\n', n + 1)) this.line++;
    this.i = end - this.dropped;
    return true;
  }

  /** Between records. */
  private between(c: number): void {
    if (c === NEWLINE) {
      this.commitHeld();
      this.longLine = false;
      this.line++;
      this.i++;
      this.atLineStart = true;
      return;
    }
    if (c === SPACE || c === TAB || c === RETURN || c === COMMA || c === BOM) { this.i++; return; }
    if (!this.started) {
      this.started = true;
      this.arrayFile = c === OPEN_BRACKET;
    }
    if (this.arrayFile && !this.inContainer && c === OPEN_BRACKET) {
      this.commitHeld();
      this.inContainer = true;
      this.i++;
      return;
    }
    if (this.inContainer && c === CLOSE_BRACKET) { this.inContainer = false; this.i++; return; }
    this.valueStart = this.i;
    this.valueLine = this.line;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) this.open(c);
    else if (c === QUOTE) this.openString(false);
    else if (isScalarChar(c)) { this.scalarStart = this.i; this.i++; }
    else this.fail(this.i);
  }

  private inValue(c: number): void {
    switch (c) {
      case NEWLINE:
        if (this.line < this.recoverUntil) { this.fail(this.i); return; }
        this.line++;
        this.i++;
        return;
      case SPACE: case TAB: case RETURN: {
        const text = this.buffer;
        let i = this.i + 1;
        while (i < text.length && isBlank(text.charCodeAt(i))) i++;
        this.i = i;
        return;
      }
      case OPEN_BRACE: case OPEN_BRACKET:
        if (this.expect === Expect.Value || this.expect === Expect.ValueOrClose) this.open(c); else this.fail(this.i);
        return;
      case CLOSE_BRACE: case CLOSE_BRACKET: {
        const top = this.stack.at(-1);
        const closes = c === CLOSE_BRACE
          ? top === OPEN_BRACE && (this.expect === Expect.KeyOrClose || this.expect === Expect.CommaOrClose)
          : top === OPEN_BRACKET && (this.expect === Expect.ValueOrClose || this.expect === Expect.CommaOrClose);
        if (!closes) { this.fail(this.i); return; }
        this.stack.pop();
        const openedAt = this.openedAt.pop()!;
        if (openedAt >= 0) this.nested.set(openedAt, this.i + 1 + this.dropped);
        this.i++;
        this.endToken(); return;
      }
      case QUOTE:
        if (this.expect === Expect.Key || this.expect === Expect.KeyOrClose) { this.openString(true); return; }
        if (this.expect === Expect.Value || this.expect === Expect.ValueOrClose) this.openString(false); else this.fail(this.i);
        return;
      case COLON:
        if (this.expect !== Expect.Colon) { this.fail(this.i); return; }
        this.expect = Expect.Value;
        this.i++;
        return;
      case COMMA:
        if (this.expect !== Expect.CommaOrClose) { this.fail(this.i); return; }
        this.expect = this.stack.at(-1) === OPEN_BRACE ? Expect.Key : Expect.Value;
        this.i++;
        return;
      default:
        if (!isScalarChar(c) || (this.expect !== Expect.Value && this.expect !== Expect.ValueOrClose)) { this.fail(this.i); return; }
        this.scalarStart = this.i;
        this.i++;
    }
  }

  private open(c: number): void {
    this.openedAt.push(this.stack.length > 0 && this.startsLine(this.i) ? this.i + this.dropped : -1);
    this.stack.push(c);
    if (this.stack.length > this.depth) this.depth = this.stack.length;
    this.expect = c === OPEN_BRACE ? Expect.KeyOrClose : Expect.ValueOrClose;
    this.i++;
  }

  /** Whether only blanks stand between the line's start and `index`. */
  private startsLine(index: number): boolean {
    let before = index - 1;
    while (before >= 0 && isBlank(this.buffer.charCodeAt(before))) before--;
    return before >= 0 && this.buffer.charCodeAt(before) === NEWLINE;
  }

  private openString(isKey: boolean): void {
    this.inString = true;
    this.stringIsKey = isKey;
    if (isKey) this.keys++;
    this.i++;
  }

  /** Inside a string, up to its closing quote: a raw newline cannot be in a JSON string, so it breaks the value. */
  private stringChar(): void {
    const text = this.buffer;
    for (let i = this.i; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === NEWLINE) {
        this.i = i;
        this.fail(i); return;
      }
      if (this.escaped) {
        this.escaped = false;
      } else if (c === BACKSLASH) {
        this.escaped = true;
      } else if (c === QUOTE) {
        this.i = i + 1;
        this.inString = false;
        if (this.stringIsKey) { this.expect = Expect.Colon; return; }
        this.endToken(); return;
      }
    }
    this.i = text.length;
  }

  /** A number, true, false or null, up to the first character that cannot be in one. */
  private scalar(): void {
    const text = this.buffer;
    let i = this.i;
    while (i < text.length && isScalarChar(text.charCodeAt(i))) i++;
    this.i = i;
    if (i < text.length) this.endScalar();
  }

  /**
   * Checks a scalar's characters, enough to find where values end; JSON.parse checks a number's
   * grammar when it reads the record.
   */
  private endScalar(): void {
    const text = this.buffer;
    const start = this.scalarStart;
    const length = this.i - start;
    this.scalarStart = -1;
    const c = text.charCodeAt(start);
    const valid = c === 0x2d || (c >= 0x30 && c <= 0x39)
      ? isNumberText(text, start, this.i)
      : (length === 4 && (text.startsWith('true', start) || text.startsWith('null', start))) || (length === 5 && text.startsWith('false', start));
    if (!valid) { this.fail(start); return; }
    this.endToken();
  }

  /** A string, scalar or container closed: the value ends when it was the outermost. */
  private endToken(): void {
    if (this.stack.length > 0) { this.expect = Expect.CommaOrClose; return; }
    const span: Span = { start: this.valueStart, end: this.i, line: this.valueLine, counts: { depth: this.depth, keys: this.keys } };
    const multiLine = this.valueLine < this.line;
    this.resetValue();
    if (!this.wholeLines()) { this.emitSpan(span); return; }
    this.held.push(span);
    // A value that spanned lines vouches for the line it started on.
    if (multiLine || span.end - this.held[0].start > HOLD_LIMIT) {
      this.commitHeld();
      if (!multiLine) this.longLine = true;
    }
  }

  /**
   * Whether an error rejects its whole line (holding the line's records until it ends): outside an
   * array file's array, and inside it on the lines read again after a broken multi-line element; not
   * on a line longer than HOLD_LIMIT.
   */
  private wholeLines(): boolean {
    return !this.longLine && (!this.inContainer || this.line <= this.recoverUntil);
  }

  private resetValue(): void {
    this.valueStart = -1;
    this.stack = [];
    this.openedAt = [];
    if (this.nested.size > 0) this.nested = new Map();
    this.expect = Expect.Value;
    this.inString = false;
    this.escaped = false;
    this.scalarStart = -1;
    this.depth = 0;
    this.keys = 0;
  }

  /** The value being read is broken at `at`. */
  private fail(at: number): void {
    if (this.valueLine < this.line) {
      // Broken on a later line: the value's first line is the bad record, and reading starts again
      // on the next line, each line on its own until the one where the error appeared.
      const lineEnd = this.buffer.indexOf('\n', this.valueStart);
      const start = this.held[0]?.start ?? this.valueStart;
      this.held = [];
      this.emitBad(start, lineEnd, this.valueLine);
      this.recoverUntil = this.line;
      this.recovery = this.nested;
      this.line = this.valueLine + 1;
      this.longLine = false;
      this.resetValue();
      this.i = lineEnd + 1;
      this.atLineStart = true;
      return;
    }
    if (!this.wholeLines()) { this.startResync(at, this.stack.length); return; }
    // Broken on its own line: the whole line is one bad record, held records included (unless the
    // line turns out longer than HOLD_LIMIT: see skipBadLine).
    this.badStart = this.held[0]?.start ?? this.valueStart;
    this.badLine = this.held[0]?.line ?? this.valueLine;
    this.failure = { at, depth: this.stack.length, valueStart: this.valueStart };
    this.resetValue();
    this.i = at;
  }

  private skipBadLine(c: number): void {
    if (c === NEWLINE) {
      this.held = [];
      this.emitBad(this.badStart, this.i, this.badLine);
      this.badStart = -1;
      return;
    }
    const next = this.buffer.indexOf('\n', this.i);
    if ((next < 0 ? this.buffer.length : next) - this.badStart <= HOLD_LIMIT) {
      this.i = next < 0 ? this.buffer.length : next;
      return;
    }
    // Too long to hold: the line's good records go out, and the bad value is rejected alone.
    this.badStart = -1;
    this.commitHeld();
    this.longLine = true;
    this.valueStart = this.failure.valueStart;
    this.valueLine = this.line;
    this.startResync(this.failure.at, this.failure.depth);
  }

  /** Reads on past the bad value from `at`, where it is `depth` brackets deep (see resync). */
  private startResync(at: number, depth: number): void {
    this.resyncing = true;
    this.resyncDepth = depth;
    this.resyncInString = false;
    this.resyncEscaped = false;
    this.stack = [];
    this.inString = false;
    this.scalarStart = -1;
    this.i = at;
    if (at < this.buffer.length && this.buffer.charCodeAt(at) !== NEWLINE) this.resync(this.buffer.charCodeAt(at), true);
  }

  /** Reads on past a bad value until it ends: brackets balanced, a separator at its top, or its line's end. */
  private resync(c: number, first = false): void {
    let ends = false;
    let after = false;
    if (c === NEWLINE) ends = true;
    else if (this.resyncInString) {
      if (this.resyncEscaped) this.resyncEscaped = false;
      else if (c === BACKSLASH) this.resyncEscaped = true;
      else if (c === QUOTE) this.resyncInString = false;
    }
    else if (c === QUOTE) this.resyncInString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) this.resyncDepth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      // A closer with nothing open ends the value before it (it closes the array), unless the bad
      // value is that very character.
      if (this.resyncDepth === 0) { ends = true; after = first && this.i === this.valueStart; }
      else if (--this.resyncDepth === 0) { ends = true; after = true; }
    } else if (this.resyncDepth === 0 && (c === SPACE || c === TAB || c === RETURN || c === COMMA)) ends = true;
    if (!ends && this.i + 1 - this.valueStart >= BAD_RECORD_LIMIT) { ends = true; after = true; }
    if (!ends) { this.i++; return; }
    const end = after ? this.i + 1 : this.i;
    this.emitBad(this.valueStart, end, this.valueLine);
    this.resyncing = false;
    this.resetValue();
    this.i = end;
  }

  private commitHeld(): void {
    for (const span of this.held) this.emitSpan(span);
    this.held = [];
  }

  private emitSpan(span: Span): void {
    const text = this.buffer.slice(span.start, span.end);
    this.emit(text, span.line, parseJson(text, span.counts));
  }

  /** A bad record; JSON.parse says why (and has the last word: it would keep a valid one). */
  private emitBad(start: number, end: number, line: number): void {
    const text = this.buffer.slice(start, end).trim();
    if (text !== '') this.emit(text, line, parseJson(text));
  }
}

/** The text encoding a file's first bytes announce: a byte order mark, or RFC 4627's pattern of zero bytes. */
function encodingOf(head: Buffer): 'utf-8' | 'utf-16le' | 'utf-16be' {
  if ((head[0] === 0x00 && head[1] === 0x00) || (head[0] === 0xff && head[1] === 0xfe && head[2] === 0x00 && head[3] === 0x00)) {
    throw new UserError('the input file is UTF-32 encoded: convert it to UTF-8 (for example with iconv -f UTF-32 -t UTF-8)');
  }
  if ((head[0] === 0xff && head[1] === 0xfe) || (head.length >= 2 && head[0] !== 0x00 && head[1] === 0x00)) return 'utf-16le';
  if ((head[0] === 0xfe && head[1] === 0xff) || (head.length >= 2 && head[0] === 0x00 && head[1] !== 0x00)) return 'utf-16be';
  return 'utf-8';
}

/**
 * Streams the records of a source file in any of SPEC's three shapes (see RecordSplitter), in
 * constant memory: one record at a time, plus at most HOLD_LIMIT of one line's records. The file is
 * UTF-8 (a byte order mark is dropped); a UTF-16 file, with a byte order mark or recognisable by its
 * zero bytes, is decoded too, and a UTF-32 one is refused in one line.
 */
export async function* readRecords(stream: Readable): AsyncGenerator<SourceRecord> {
  let position = 0;
  const ready: SourceRecord[] = [];
  const splitter = new RecordSplitter((text, line, parsed) => {
    ready.push(parsed.error === undefined ? { text, position: ++position, line, value: parsed.value } : { text, position: ++position, line, error: parsed.error });
  });
  let decoder: TextDecoder | undefined;
  let head = Buffer.alloc(0);
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    if (typeof chunk === 'string') {
      splitter.push(chunk);
    } else if (decoder) {
      splitter.push(decoder.decode(chunk, { stream: true }));
    } else {
      // Four bytes tell the encoding.
      head = Buffer.concat([head, chunk]);
      if (head.length < 4) continue;
      decoder = new TextDecoder(encodingOf(head));
      splitter.push(decoder.decode(head, { stream: true }));
    }
    yield* ready.splice(0);
  }
  if (!decoder && head.length > 0) {
    decoder = new TextDecoder(encodingOf(head));
    splitter.push(decoder.decode(head, { stream: true }));
  }
  if (decoder) splitter.push(decoder.decode());
  splitter.finish();
  yield* ready.splice(0);
}

/** Opens a local source file as a stream, with its size for progress. */
export async function openSourceFile(file: string): Promise<{ stream: Readable; bytes: number }> {
  const info = await statInputFile(file);
  return { stream: createReadStream(file, { highWaterMark: 1 << 20 }), bytes: info.size };
}

/**
 * A local file's identity in the `source` attribute, as stable as a bucket object's gs:// address:
 * the file:// URL of its real path (absolute, symbolic links resolved), so that the same file read
 * from anywhere is one source and two files of the same name are two. Rejects are identified by
 * source, position and text.
 */
export function localSourceName(file: string): string {
  const absolute = path.resolve(file);
  let real = absolute;
  try {
    real = realpathSync(absolute);
  } catch {
    // A missing file: opening it says so.
  }
  return pathToFileURL(real).href;
}
