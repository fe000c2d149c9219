import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkerStatus } from './log-worker.js';

/** Sets a counter to a total the worker keeps (prom-client counters only go up by increments). */
const setTotal = (c: Counter, value: number): void => {
  c.reset();
  if (value > 0) c.inc(value);
};

/** A worker's Prometheus metrics, read from its status at each scrape. */
export function workerMetrics(status: () => WorkerStatus): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({ name: 'tessera_worker_partitions', help: 'Partitions of the ingestion log this worker applies.', registers: [registry], collect() { this.set(status().partitions.length); } });
  new Counter({
    name: 'tessera_worker_records_total',
    help: 'Records taken from the log, by outcome.',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [outcome, n] of Object.entries(status().outcomes)) this.inc({ outcome }, n);
    },
  });
  new Counter({ name: 'tessera_worker_profile_merges_total', help: 'Profiles merged into another by identity links, applying the log.', registers: [registry], collect() { setTotal(this, status().merges); } });
  new Counter({ name: 'tessera_worker_identity_warnings_total', help: 'Identity warnings (refused links, graph-limit drops), applying the log.', registers: [registry], collect() { setTotal(this, status().identityWarnings); } });
  new Counter({ name: 'tessera_worker_lake_records_total', help: 'Records written to the lake by this worker.', registers: [registry], collect() { setTotal(this, status().lakeRecords); } });
  new Counter({ name: 'tessera_worker_retried_transactions_total', help: 'Transactions run again after losing a race with another writer.', registers: [registry], collect() { setTotal(this, status().retriedTransactions); } });
  return registry;
}
