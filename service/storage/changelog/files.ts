import { join } from 'node:path';

/** Where a data directory keeps its change log. */
export function changeLogFile(dataDir: string): string {
  return join(dataDir, 'changelog.sqlite');
}
