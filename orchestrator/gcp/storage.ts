import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Storage } from '@google-cloud/storage';
import { UserError } from '../errors.js';
import { validateBucketName } from '../identifiers.js';
import { statInputFile } from '../storage/inputFile.js';

/** A resumable upload, checked end to end with CRC32C by the client library. */
export async function uploadToGcs(storage: Storage, file: string, bucket: string, object = path.basename(file)) {
  const info = await statInputFile(file);
  const [uploaded] = await storage.bucket(validateBucketName(bucket, 'the bucket name')).upload(file, {
    destination: object,
    resumable: true,
    validation: 'crc32c',
    metadata: { contentType: 'application/x-ndjson' },
  });
  return { uri: `gs://${bucket}/${object}`, bytes: info.size, crc32c: uploaded.metadata.crc32c ?? '' };
}

/** Streams an object (never loads it whole), with the client's CRC32C check of what was read. */
export async function openGcsObject(storage: Storage, bucket: string, object: string): Promise<{ stream: Readable; bytes: number }> {
  const file = storage.bucket(bucket).file(object);
  const [exists] = await file.exists();
  if (!exists) throw new UserError(`object not found: gs://${bucket}/${object}`);
  const [metadata] = await file.getMetadata();
  return { stream: file.createReadStream({ validation: 'crc32c' }), bytes: Number(metadata.size ?? 0) };
}
