import type { Command } from 'commander';
import { closeOnSignals } from '../shutdown.js';
import { loadConfig, type ConfigFlags } from '../../config.js';
import { startServer } from '../../server.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the API: on the embedded backend (SQLite + local lake), or with --backend postgres on PostgreSQL (+ the lake in the data dir)')
    .option('-p, --port <port>', 'port to listen on (env TESSERA_PORT, default 8080)')
    .option('--host <host>', 'address to bind (env TESSERA_HOST, default 0.0.0.0)')
    .option('-d, --data-dir <dir>', 'where state and the lake live (env TESSERA_DATA_DIR, default ./data)')
    .option('--log-level <level>', 'pino log level (env TESSERA_LOG_LEVEL, default info)')
    .option('--backend <backend>', 'embedded | postgres (env TESSERA_BACKEND, default embedded)')
    .option('--postgres-url <url>', 'PostgreSQL connection URL for the postgres backend (env TESSERA_POSTGRES_URL)')
    .option('--postgres-schema <schema>', 'PostgreSQL schema for Tessera\'s tables (env TESSERA_POSTGRES_SCHEMA, default: the search_path)')
    .option('--nats-url <url>', 'scale-out: NATS JetStream for the ingestion log; `tessera worker` applies it (env TESSERA_NATS_URL)')
    .option('--nats-stream <name>', 'the JetStream stream (env TESSERA_NATS_STREAM, default TESSERA[_<SCHEMA>])')
    .option('--partitions <n>', 'partitions of the log, fixed when the stream is made (env TESSERA_PARTITIONS, default 16)')
    .option('--nats-max-messages <n>', 'the stream\'s limit in messages; past it ingestion answers 503 (env TESSERA_NATS_MAX_MESSAGES, default 100000)')
    .option('--nats-max-bytes <n>', 'the stream\'s limit in bytes (env TESSERA_NATS_MAX_BYTES, default 4 GiB)')
    .option('--max-apply-lag <ms>', 'scale-out: keep streaming ingestion fresh — hold, then answer 503, while the workers are more than this far behind (env TESSERA_MAX_APPLY_LAG_MS; default: off, the log buffers up to its limit)')
    .action(async (flags: ConfigFlags) => {
      const config = loadConfig(flags);
      const server = await startServer(config);
      if (server.generatedAdminKey) {
        process.stdout.write(
          `\nCreated instance "default" with admin key (shown only once, keep it):\n\n  ${server.generatedAdminKey}\n\n` +
            `Set TESSERA_BOOTSTRAP_ADMIN_KEY to choose the key yourself.\n\n`,
        );
      }
      process.stdout.write(`Tessera listening on ${server.url} (${config.nats ? `PostgreSQL backend, ingestion log on NATS stream ${config.nats.stream}, data dir ` : config.backend === 'postgres' ? 'PostgreSQL backend, lake in ' : 'data dir '}${config.dataDir})\n`);
      closeOnSignals('finishing in-flight work and shutting down', () => server.close());
    });
}
