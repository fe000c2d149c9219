import type { Command } from 'commander';
import { vacuumDataDir } from '../../runtime/vacuum.js';
import { dataDirOf, print } from './data-dir.js';

const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

export function registerVacuum(program: Command): void {
  program
    .command('vacuum')
    .description('rewrite the embedded state database without its free pages, with the server stopped (needs about twice its size free on disk)')
    .option('-d, --data-dir <dir>', 'data dir (env TESSERA_DATA_DIR, default ./data)')
    .option('--json', 'print JSON')
    .action((flags: { dataDir?: string; json?: boolean }) => {
      const r = vacuumDataDir(dataDirOf(flags.dataDir));
      print(r, flags.json, () => `state.db: ${mb(r.before.bytes)} → ${mb(r.after.bytes)} (${r.before.pages - r.after.pages} pages fewer; ${r.before.freePages} were free) in ${r.seconds.toFixed(1)} s`);
    });
}
