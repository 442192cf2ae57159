import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync } from 'node:fs';
import { copyFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Workdir } from '../config.js';
import { UserError } from '../errors.js';
import { localSourceName, openSourceFile } from '../events/reader.js';
import { validateBucketName } from '../identifiers.js';
import { statInputFile } from './inputFile.js';

/** Where an ingest reads from: a local path, or an object in a bucket. */
export type Source = { kind: 'file'; path: string; name: string } | { kind: 'object'; bucket: string; object: string; name: string };

export function parseSource(input: string): Source {
  const match = /^gs:\/\/([^/]+)\/(.+)$/.exec(input);
  if (input.startsWith('gs://') && !match) throw new UserError(`expected gs://BUCKET/OBJECT, got ${input}`);
  if (match) return { kind: 'object', bucket: validateBucketName(match[1], input), object: match[2], name: input };
  return { kind: 'file', path: input, name: localSourceName(input) };
}

function validateObjectName(object: string): string {
  if (object === '' || object.split('/').some((part) => part === '' || part === '.' || part === '..') || object.includes('\0')) {
    throw new UserError(`invalid object name ${JSON.stringify(object)}`);
  }
  return object;
}

async function md5(file: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(file), hash);
  return hash.digest('base64');
}

/** The local stand-in for Cloud Storage: `<workdir>/buckets/<bucket>/<object>`. */
export class LocalBuckets {
  constructor(private readonly workdir: Workdir) {}

  bucketDir(bucket: string): string {
    return path.join(this.workdir.bucketsDir, validateBucketName(bucket, 'the bucket name'));
  }

  create(bucket: string): 'created' | 'exists' {
    const dir = this.bucketDir(bucket);
    if (existsSync(dir)) return 'exists';
    mkdirSync(dir, { recursive: true });
    return 'created';
  }

  private objectPath(bucket: string, object: string): string {
    const dir = this.bucketDir(bucket);
    if (!existsSync(dir)) throw new UserError(`bucket ${bucket} does not exist: run 'orchestrator provision' first`);
    return path.join(dir, validateObjectName(object));
  }

  /** Copies a file into the bucket and verifies the copy's MD5, as a Cloud Storage upload would. */
  async upload(file: string, bucket: string, object = path.basename(file)): Promise<{ uri: string; bytes: number; md5: string }> {
    const info = await statInputFile(file);
    const target = this.objectPath(bucket, object);
    mkdirSync(path.dirname(target), { recursive: true });
    await copyFile(file, target);
    const [sourceMd5, copyMd5] = await Promise.all([md5(file), md5(target)]);
    if (sourceMd5 !== copyMd5) throw new UserError(`checksum mismatch after uploading ${file} to gs://${bucket}/${object}`);
    return { uri: `gs://${bucket}/${object}`, bytes: info.size, md5: copyMd5 };
  }

  async open(bucket: string, object: string): Promise<{ stream: Readable; bytes: number }> {
    const file = this.objectPath(bucket, object);
    const info = await stat(file).catch(() => undefined);
    if (!info?.isFile()) throw new UserError(`object not found: gs://${bucket}/${object}`);
    return { stream: createReadStream(file, { highWaterMark: 1 << 20 }), bytes: info.size };
  }
}

/** Opens an ingest source as a stream, with its size for progress. */
export async function openSource(source: Source, buckets: LocalBuckets): Promise<{ stream: Readable; bytes: number }> {
  return source.kind === 'object' ? buckets.open(source.bucket, source.object) : openSourceFile(source.path);
}
