import { connect } from 'node:net';
import { defineConfig } from 'vitest/config';

/**
 * The behaviour suite runs on both backends: every test on the embedded one, and the tests that
 * speak only HTTP to a server again on PostgreSQL (TESSERA_TEST_BACKEND=postgres) and again in
 * the scale-out mode, through the NATS JetStream log and a worker (TESSERA_TEST_BACKEND=nats). Left out there:
 * tests about the embedded data dir itself (kill -9 recovery, restarts, the CLI on a data dir,
 * rebuild, the memory of batch imports, the write lock, the data dir lock, vacuum, a full disk, the WAL checkpointer), the tests of the stores themselves (and of the SQL writer's pipeline, and of the NATS log), and the multi-node
 * and scale-out tests that always use PostgreSQL (and NATS), and the checks of the source's imports and of the docs against it.
 */
const EMBEDDED_ONLY = ['test/scale-out.test.ts', 'test/scale-out-nats.test.ts', 'test/scale-out-lake.test.ts', 'test/durability.test.ts', 'test/cli.test.ts', 'test/rebuild.test.ts', 'test/batch-memory.test.ts', 'test/embedded-write-lock.test.ts', 'test/wal-checkpoint.test.ts', 'test/sqlite-migrations.test.ts', 'test/data-dir-lock.test.ts', 'test/vacuum.test.ts', 'test/storage-full.test.ts', 'test/committer.test.ts', 'test/postgres-store.test.ts', 'test/sql-writer-pipeline.test.ts', 'test/apply-lag-gate.test.ts', 'test/apply-wire.test.ts', 'test/log-entry.test.ts', 'test/nats-log.test.ts', 'test/combine-groups.test.ts', 'test/architecture.test.ts', 'test/docs.test.ts'];
const PG_URL = new URL(process.env['TESSERA_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test');
const NATS_URL = new URL(`nats://${(process.env['TESSERA_TEST_NATS_URL'] ?? '127.0.0.1:4222').replace(/^nats:\/\//, '')}`);

const reachable = (host: string, port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });

export default defineConfig(async () => {
  // In CI the PostgreSQL run always happens (and fails loudly without the service); elsewhere it
  // is skipped, with a message, when PostgreSQL is not there.
  const withPostgres = process.env['CI'] ? true : await reachable(PG_URL.hostname, Number(PG_URL.port || 5432));
  if (!withPostgres) process.stderr.write(`PostgreSQL is not reachable at ${PG_URL.host}: the behaviour suite runs on the embedded backend only\n`);
  const withNats = process.env['CI'] ? true : withPostgres && (await reachable(NATS_URL.hostname, Number(NATS_URL.port || 4222)));
  if (withPostgres && !withNats) process.stderr.write(`NATS is not reachable at ${NATS_URL.host}: the behaviour suite does not run in the scale-out mode\n`);
  return {
    test: {
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: 'forks' as const,
      maxWorkers: 2,
      projects: [
        { extends: true, test: { name: 'embedded', include: ['test/**/*.test.ts'] } },
        ...(withPostgres ? [{ extends: true, test: { name: 'postgres', include: ['test/**/*.test.ts'], exclude: EMBEDDED_ONLY, env: { TESSERA_TEST_BACKEND: 'postgres' } } }] : []),
        ...(withNats ? [{ extends: true, test: { name: 'nats', include: ['test/**/*.test.ts'], exclude: EMBEDDED_ONLY, env: { TESSERA_TEST_BACKEND: 'nats' } } }] : []),
      ],
    },
  };
});
