import type { Command } from 'commander';
import { openTessera } from '../../runtime/tessera.js';
import { dataDirOf } from './data-dir.js';

export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description('recompute every derived table (identity graph, fragments, activities, overrides) from the lake; run it with the server stopped')
    .option('-i, --instance <id>', 'only this instance (default: all)')
    .option('-d, --data-dir <dir>', 'data dir (env TESSERA_DATA_DIR, default ./data)')
    .action(async (flags: { instance?: string; dataDir?: string }) => {
      const t = await openTessera({ dataDir: dataDirOf(flags.dataDir) });
      try {
        if (flags.instance) await t.instances.get(flags.instance);
        const started = Date.now();
        const n = await t.rebuild(flags.instance);
        process.stdout.write(`rebuilt ${flags.instance ?? 'all instances'} from the lake: ${n} records applied in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      } finally {
        await t.close();
      }
    });
}
