/** JSON files that are either the old or the new version, never half of one. */
import { rename, writeFile } from 'node:fs/promises';

/** Writes `value` as indented JSON to `<path>.tmp`, then renames it over `path`. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFile(`${path}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}
