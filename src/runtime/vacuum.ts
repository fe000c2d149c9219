import { existsSync } from 'node:fs';
import { notFound } from '../domain/errors.js';
import { lockDataDir } from '../storage/sqlite/data-dir-lock.js';
import { stateDbFile } from '../storage/sqlite/open.js';
import { vacuumStateDb, type VacuumResult } from '../storage/sqlite/vacuum.js';

/**
 * `tessera vacuum`: rewrites the embedded data dir's `state.db` without its free pages. It holds
 * the data dir (`lockDataDir`), so it is refused while a server runs there, and no server starts
 * on it meanwhile.
 */
export function vacuumDataDir(dataDir: string): VacuumResult {
  const file = stateDbFile(dataDir);
  if (!existsSync(file)) throw notFound('no_state_db', `data dir ${dataDir} holds no state.db: nothing to vacuum (is it the data dir a server ran on?)`);
  const lock = lockDataDir(dataDir);
  try {
    return vacuumStateDb(file);
  } finally {
    lock.release();
  }
}
