import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UserError } from '../errors.js';

/** The size and times of a source file the user named, or one line saying why it cannot be read as one. */
export async function statInputFile(file: string): Promise<Stats> {
  const info = await stat(file).catch(() => undefined);
  if (!info) throw new UserError(`input file not found: ${file}`);
  if (info.isDirectory()) throw new UserError(`${file} is a folder, not a file`);
  if (!info.isFile()) throw new UserError(`${file} is not a regular file (a device, pipe or socket has no size to upload)`);
  return info;
}
