import type { Command } from 'commander';
import { openTessera, type Tessera } from '../../runtime/tessera.js';
import { dataDirOf } from './data-dir.js';

/** Where a command acts: a running server (with a key), or the data dir of a stopped one. */
export interface TargetFlags {
  instance: string;
  server?: string;
  key?: string;
  dataDir?: string;
}

export const targetOptions = (command: Command): Command =>
  command
    .option('-i, --instance <id>', 'instance', 'default')
    .option('--server <url>', 'a running Tessera (env TESSERA_URL); without a server or key, the data dir is used (stop the server first)')
    .option('--key <key>', 'API key, contributor or admin (env TESSERA_KEY)')
    .option('-d, --data-dir <dir>', 'data dir when no server is given (env TESSERA_DATA_DIR, default ./data)');

/** Runs `fn` on Tessera opened on the local data dir (the instance must exist), then closes it. */
export async function local<T>(flags: TargetFlags, fn: (t: Tessera) => Promise<T>): Promise<T> {
  const t = await openTessera({ dataDir: dataDirOf(flags.dataDir) });
  try {
    await t.instances.get(flags.instance);
    return await fn(t);
  } finally {
    await t.close();
  }
}
