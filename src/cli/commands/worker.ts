import type { Command } from 'commander';
import { closeOnSignals } from '../shutdown.js';
import { loadConfig, type ConfigFlags } from '../../config.js';
import { startLogWorkerThread } from '../../runtime/log-worker-thread.js';

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('scale-out: apply the NATS ingestion log to PostgreSQL (partitions spread over the running workers) and write the lake')
    .option('--postgres-url <url>', 'PostgreSQL connection URL (env TESSERA_POSTGRES_URL)')
    .option('--postgres-schema <schema>', 'PostgreSQL schema of Tessera\'s tables (env TESSERA_POSTGRES_SCHEMA)')
    .option('--nats-url <url>', 'NATS with JetStream (env TESSERA_NATS_URL)')
    .option('--nats-stream <name>', 'the JetStream stream (env TESSERA_NATS_STREAM, default TESSERA[_<SCHEMA>])')
    .option('--partitions <n>', 'partitions of the log: as the API nodes have it (env TESSERA_PARTITIONS, default 16)')
    .option('--nats-max-messages <n>', 'the stream\'s limit in messages (env TESSERA_NATS_MAX_MESSAGES, default 100000)')
    .option('--nats-max-bytes <n>', 'the stream\'s limit in bytes (env TESSERA_NATS_MAX_BYTES, default 4 GiB)')
    .option('-d, --data-dir <dir>', 'where the lake is written: the same (shared) directory for every worker (env TESSERA_DATA_DIR, default ./data)')
    .option('-p, --port <port>', 'port for /health and /metrics (env TESSERA_WORKER_PORT; none when unset)')
    .option('--host <host>', 'address for /health and /metrics (default 127.0.0.1)')
    .action(async (flags: ConfigFlags & { port?: string }) => {
      const port = flags.port ?? process.env['TESSERA_WORKER_PORT'];
      const config = loadConfig({ ...flags, port: 0, backend: 'postgres' });
      if (!config.postgres) throw new Error('the worker needs --postgres-url (or TESSERA_POSTGRES_URL)');
      if (!config.nats) throw new Error('the worker needs --nats-url (or TESSERA_NATS_URL)');
      const worker = await startLogWorkerThread({
        postgres: config.postgres,
        nats: config.nats,
        dataDir: config.dataDir,
        ...(port !== undefined ? { port: Number(port) } : {}),
        ...(flags.host ? { host: flags.host } : {}),
      });
      process.stdout.write(`Tessera worker ${worker.id} on stream ${config.nats.stream}${worker.url ? `, health on ${worker.url}/health` : ''}\n`);
      closeOnSignals('finishing the group in hand and shutting down', () => worker.close());
      void worker.ended.then((why) => {
        process.stderr.write(`worker: ${why}\n`);
        process.exit(1);
      });
    });
}
