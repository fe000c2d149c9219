import type { FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Tessera } from '../runtime/tessera.js';

/**
 * Prometheus metrics at GET /metrics: HTTP requests and latencies by route, and the ingestion
 * pipeline (records committed by outcome, ingestion lag, merges, identity warnings, failed records,
 * group commit latency, queue depth).
 */
export function registerMetrics(app: FastifyInstance, t: Tessera): void {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tessera_process_' });
  const requests = new Counter({ name: 'tessera_http_requests_total', help: 'HTTP requests by method, route and status', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const latency = new Histogram({
    name: 'tessera_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const records = new Counter({ name: 'tessera_records_committed_total', help: 'Records committed, by outcome (applied, unchanged, duplicate, conflict, failed, not_found; queued: in the ingestion log, for the workers, in scale-out mode)', labelNames: ['outcome'], registers: [registry] });
  const failed = new Counter({ name: 'tessera_failed_records_total', help: 'Records kept in the failed-records store (schema violations and the like)', registers: [registry] });
  const warnings = new Counter({ name: 'tessera_identity_warnings_total', help: 'Identity warnings: refused links (unique namespaces) and graph-limit drops', registers: [registry] });
  const lag = new Histogram({
    name: 'tessera_ingestion_lag_seconds',
    help: 'From receipt of a record to its commit (lake durable and applied)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [registry],
  });
  const merges = new Counter({ name: 'tessera_profile_merges_total', help: 'Profiles merged into another by identity links', registers: [registry] });
  const commitLatency = new Histogram({
    name: 'tessera_group_commit_seconds',
    help: 'Time from handing a group to the writer to its commit (lake fdatasync + transaction)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  new Counter({
    name: 'tessera_batch_files_validated_total',
    help: "Batch files validated (pass 1), by how: whole; split (two parts side by side, on two threads); fallback (whole, after the parts could not be read as rows)",
    labelNames: ['how'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [how, n] of Object.entries(t.batches.validatedFiles)) this.inc({ how }, n);
    },
  });
  new Gauge({ name: 'tessera_commit_queue_depth', help: 'Requests waiting for a group commit', registers: [registry], collect() { this.set(t.commitQueueDepth()); } });
  if (t.applyLagMs) {
    const lag = t.applyLagMs;
    new Gauge({ name: 'tessera_apply_lag_seconds', help: 'Scale-out with --max-apply-lag: age of the oldest message this node appended that the workers have not applied', registers: [registry], async collect() { this.set((await lag()) / 1000); } });
  }

  const refreshRuns = new Counter({ name: 'tessera_refresh_runs_total', help: 'Refresh runs ended, by status (success, failed) and trigger (manual, schedule)', labelNames: ['status', 'trigger'], registers: [registry] });
  const refreshStages = new Histogram({
    name: 'tessera_refresh_stage_seconds',
    help: 'Time of each refresh stage (extract, unify, enrich, publish)',
    labelNames: ['stage'],
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const refreshRecords = new Counter({ name: 'tessera_refresh_records_total', help: 'Records unified by successful refresh runs', registers: [registry] });
  const refreshPairs = new Counter({ name: 'tessera_refresh_pairs_compared_total', help: 'Record pairs compared by successful refresh runs', registers: [registry] });
  const lastSuccess = new Gauge({ name: 'tessera_refresh_last_success_timestamp_seconds', help: 'When the last successful refresh of each instance ended', labelNames: ['instance'], registers: [registry] });
  new Gauge({ name: 'tessera_refresh_running', help: 'Refresh runs in progress', registers: [registry], collect() { this.set(t.refresh.runningCount); } });
  t.refresh.onFinished((run) => {
    refreshRuns.inc({ status: run.status, trigger: run.trigger });
    for (const stage of run.stages) refreshStages.observe({ stage: stage.name }, stage.ms / 1000);
    if (run.status === 'success') {
      refreshRecords.inc(run.counts.records ?? 0);
      refreshPairs.inc(run.counts.pairsCompared ?? 0);
      lastSuccess.set({ instance: run.instanceId }, (run.finishedAt ?? 0) / 1000);
    }
  });

  t.onCommitted((works, outcomes, seconds) => {
    commitLatency.observe(seconds);
    const now = t.clock.now();
    for (const w of works) {
      if (w.failed.length > 0) failed.inc(w.failed.length);
      const first = w.records[0];
      if (first && !w.lakePositions) lag.observe(Math.max(0, now - first.receipt.receivedAt) / 1000);
    }
    // Counted here and added once per status (a labelled inc hashes its labels: a batch has thousands of records).
    const byStatus = new Map<string, number>();
    let merged = 0;
    let warned = 0;
    for (const list of outcomes) {
      for (const o of list) {
        byStatus.set(o.status, (byStatus.get(o.status) ?? 0) + 1);
        merged += o.merged.length;
        warned += o.warnings ?? 0;
      }
    }
    for (const [outcome, n] of byStatus) records.inc({ outcome }, n);
    if (merged > 0) merges.inc(merged);
    if (warned > 0) warnings.inc(warned);
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    void reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
}
