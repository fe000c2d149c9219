import type { Command } from 'commander';
import { loadConfig, type ConfigFlags } from '../../config.js';
import { rebuildFromLake, rebuildScaleOut } from '../../runtime/rebuild.js';

export function registerRebuild(program: Command): void {
  program
    .command('rebuild')
    .description('recompute every derived table (identity graph, fragments, activities, overrides) from the lake; run it with the server (scale-out: the API nodes and workers) stopped')
    .option('-i, --instance <id>', 'only this instance (default: all)')
    .option('-d, --data-dir <dir>', 'data dir, where the lake is (env TESSERA_DATA_DIR, default ./data)')
    .option('--backend <backend>', 'embedded | postgres (env TESSERA_BACKEND, default embedded)')
    .option('--postgres-url <url>', 'PostgreSQL connection URL for the postgres backend (env TESSERA_POSTGRES_URL)')
    .option('--postgres-schema <schema>', 'PostgreSQL schema of Tessera\'s tables (env TESSERA_POSTGRES_SCHEMA)')
    .option('--nats-url <url>', 'scale-out: the NATS JetStream ingestion log; what it holds beyond the lake writer is written to the lake first (env TESSERA_NATS_URL)')
    .option('--nats-stream <name>', 'the JetStream stream (env TESSERA_NATS_STREAM, default TESSERA[_<SCHEMA>])')
    .option('--partitions <n>', 'partitions of the log, as the workers have it (env TESSERA_PARTITIONS, default 16)')
    .action(async (flags: ConfigFlags & { instance?: string }) => {
      const config = loadConfig({ ...flags, port: 0 });
      const started = Date.now();
      const took = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
      const what = flags.instance ?? 'all instances';
      if (config.postgres && config.nats) {
        const r = await rebuildScaleOut({ postgres: config.postgres, nats: config.nats, dataDir: config.dataDir, ...(flags.instance ? { instanceId: flags.instance } : {}) });
        process.stdout.write(`wrote ${r.caughtUp} records from the log to the lake\nrebuilt ${what} from the lake: ${r.applied} records applied in ${took()}\n`);
        return;
      }
      const n = await rebuildFromLake({ dataDir: config.dataDir, ...(config.postgres ? { postgres: config.postgres } : {}), ...(flags.instance ? { instanceId: flags.instance } : {}) });
      process.stdout.write(`rebuilt ${what} from the lake: ${n} records applied in ${took()}\n`);
    });
}
