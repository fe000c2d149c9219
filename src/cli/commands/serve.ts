import type { Command } from 'commander';
import { loadConfig } from '../../config.js';
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
    .action(async (flags: { port?: string; host?: string; dataDir?: string; logLevel?: string; backend?: string; postgresUrl?: string; postgresSchema?: string }) => {
      const config = loadConfig(flags);
      const server = await startServer(config);
      if (server.generatedAdminKey) {
        process.stdout.write(
          `\nCreated instance "default" with admin key (shown only once, keep it):\n\n  ${server.generatedAdminKey}\n\n` +
            `Set TESSERA_BOOTSTRAP_ADMIN_KEY to choose the key yourself.\n\n`,
        );
      }
      process.stdout.write(`Tessera listening on ${server.url} (${config.backend === 'postgres' ? 'PostgreSQL backend, lake in ' : 'data dir '}${config.dataDir})\n`);
      const stop = (signal: string): void => {
        process.stdout.write(`${signal}: finishing in-flight work and shutting down\n`);
        server.close().then(
          () => process.exit(0),
          (err: unknown) => {
            process.stderr.write(`shutdown failed: ${String(err)}\n`);
            process.exit(1);
          },
        );
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
