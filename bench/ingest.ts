/**
 * npm run bench:ingest [-- --people 1000000 --batch 500 --concurrency 8 --known-views 200000 --single-seconds 10]
 *
 * Drives a real Tessera server (separate process, embedded backend, fresh data dir) over HTTP:
 * batch ingestion of generated traffic, then page views of the people it made known, the single
 * endpoint, ack-to-visible latency, profile reads on the loaded store, peak RSS, and a bare
 * Fastify no-op server's requests/s as the denominator.
 * First it measures the storage floor of the same traffic (its rows written straight into Tessera's
 * tables: SQLite, or PostgreSQL with `--backend postgres`), the denominator of the batch rate.
 */
import { arg, cpuSeconds, cpuSecondsOfCommand, peakRssMb, percentile, report, round } from './lib/harness.js';
import { http, postUntilTaken } from './lib/http.js';
import { measurePostgresFloor, measureSqliteFloor } from './lib/ingest-floor.js';
import { BACKEND, batchBodies, BENCH_PG_URL, cannon, KEY, MAX_APPLY_LAG_MS, noopBaseline, sendBatches, startBenchServer, trafficBatches } from './lib/tessera-bench.js';
import { emailOf, knownPageViews } from './lib/traffic.js';

const PEOPLE = arg('people', 1_000_000);
const BATCH = arg('batch', 500);
const CONCURRENCY = arg('concurrency', 8);
const SINGLE_SECONDS = arg('single-seconds', 10);
const KNOWN_VIEWS = arg('known-views', Math.min(2 * PEOPLE, 200_000));
const SINGLE_CONNECTIONS = 64;
const log = (msg: string): void => void process.stderr.write(`[bench:ingest] ${msg}\n`);

// The same traffic's rows written straight into Tessera's tables first: the storage floor of
// applying it, measured in the same run as the denominator of the batch rate.
const floor = BACKEND === 'postgres' ? await measurePostgresFloor(BENCH_PG_URL, PEOPLE) : measureSqliteFloor(PEOPLE);
log(
  `storage floor (the traffic's rows written straight into ${BACKEND === 'postgres' ? 'PostgreSQL, set-based' : 'SQLite'}, no merges): ${Math.round(floor.messagesPerSecond)} messages/s` +
    (floor.postgresCpuUsPerMessage === undefined ? '' : `, PostgreSQL CPU ${Math.round(floor.postgresCpuUsPerMessage)} µs/message`),
);

const s = await startBenchServer();
try {
  // Phase 1: batch ingestion of the generated traffic, with a visibility probe alongside.
  // Bodies are made before the clock starts, so that the load generator (which shares this
  // 2-core machine) spends its CPU sending, not generating.
  const bodies = trafficBatches(PEOPLE, s, BATCH);
  log(`batch phase: ${PEOPLE} people, ${bodies.length} batches of ${BATCH}, ${CONCURRENCY} concurrent`);
  const visible: number[] = [];
  let probing = true;
  const probe = async (): Promise<void> => {
    for (let i = 0; probing; i++) {
      const email = `probe-${i}@bench.example.com`;
      const res = await postUntilTaken(`${s.api}/collection/${s.crm}`, KEY, JSON.stringify({ record: { identityMap: { email: [{ id: email }] }, loyalty: { points: i } } }));
      const acked = performance.now();
      if (res.status !== 200) throw new Error(`probe: ${res.status} ${res.body}`);
      // Polled at an interval of 5% of the time waited so far (1-25 ms): the figure stays within
      // 5% while a backlog that takes seconds to apply is not slowed down by a busy loop of reads.
      while ((await http('GET', `${s.api}/profiles?identity=email:${email}`, KEY)).status !== 200) {
        await new Promise((r) => setTimeout(r, Math.min(25, Math.max(1, (performance.now() - acked) / 20))));
      }
      visible.push(performance.now() - acked);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const probeDone = probe();
  // CPU seconds so far of the API node (or embedded server), the worker, PostgreSQL and NATS.
  const cpuNow = () => ({ server: cpuSeconds(s.server.pid), worker: s.worker ? cpuSeconds(s.worker.pid) : 0, postgres: cpuSecondsOfCommand('postgres'), nats: cpuSecondsOfCommand('nats-server') });
  const cpuPerMessage = (since: ReturnType<typeof cpuNow>, messages: number) => {
    const now = cpuNow();
    const us = (seconds: number): number => (seconds * 1e6) / messages;
    return { server: us(now.server - since.server), worker: us(now.worker - since.worker), postgres: us(now.postgres - since.postgres), nats: us(now.nats - since.nats) };
  };
  const cpuAtStart = cpuNow();
  const started = performance.now();
  let lastLog = started;
  const { sent, rejected, retried } = await sendBatches(s, bodies, CONCURRENCY, (n) => {
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      log(`${n} messages, ${Math.round(n / ((lastLog - started) / 1000))}/s`);
    }
  });
  const ackSeconds = (performance.now() - started) / 1000;
  // Scale-out: acknowledged means in the log; the batch is through once the worker has applied it.
  if (s.applied) {
    log(`batch: ${sent} messages acknowledged in ${round(ackSeconds)} s; waiting for the worker to apply them`);
    while ((await s.applied()) < sent) await new Promise((r) => setTimeout(r, 200));
  }
  const batchSeconds = (performance.now() - started) / 1000;
  const batchCpuUs = cpuPerMessage(cpuAtStart, sent);
  probing = false;
  await probeDone;
  const batchRate = sent / batchSeconds;
  const cpuText = (us: ReturnType<typeof cpuPerMessage>): string =>
    `CPU ${Math.round(us.server)} µs/message${s.worker ? ` in the API node, ${Math.round(us.worker)} in the worker, ${Math.round(us.nats)} in NATS` : ''}${BACKEND === 'postgres' ? `, ${Math.round(us.postgres)} in PostgreSQL` : ''}`;
  log(`batch: ${sent} messages applied in ${round(batchSeconds)} s = ${Math.round(batchRate)}/s (${rejected} rejected, ${retried} batches sent again after a 503); ${cpuText(batchCpuUs)}`);

  // Phase 1b: page views of the people now known, scattered (most of a CDP's stream once its
  // people are known: each record's identity has its owner, and nothing links or merges).
  const views = batchBodies(knownPageViews({ people: PEOPLE, eventDataset: s.events, count: KNOWN_VIEWS }), BATCH);
  const appliedBefore = s.applied ? await s.applied() : 0;
  const cpuBeforeViews = cpuNow();
  const viewsStarted = performance.now();
  const viewsSent = (await sendBatches(s, views, CONCURRENCY)).sent;
  if (s.applied) while ((await s.applied()) < appliedBefore + viewsSent) await new Promise((r) => setTimeout(r, 200));
  const viewsRate = viewsSent / ((performance.now() - viewsStarted) / 1000);
  const viewsCpuUs = cpuPerMessage(cpuBeforeViews, viewsSent);
  log(`known people's page views: ${viewsSent} applied at ${Math.round(viewsRate)}/s; ${cpuText(viewsCpuUs)}`);

  // Phase 2: the single endpoint, one new person per request.
  let n = 0;
  const singleLoad = (target: typeof s, seconds: number) =>
    cannon({
      url: `${target.api}/collection/${target.crm}`,
      method: 'POST',
      connections: SINGLE_CONNECTIONS,
      duration: seconds,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      requests: [{ setupRequest: (req) => ({ ...req, body: JSON.stringify({ record: { identityMap: { email: [{ id: `single-${n++}@bench.example.com` }] }, loyalty: { points: n } } }) }) }],
    });
  const cpuBeforeSingle = cpuSeconds(s.server.pid);
  const single = await singleLoad(s, SINGLE_SECONDS);
  const singleCpuUs = ((cpuSeconds(s.server.pid) - cpuBeforeSingle) * 1e6) / single.requests.total;
  log(`single: ${Math.round(single.requests.average)} req/s, p99 ${single.latency.p99} ms, non-2xx ${single.non2xx}, server CPU ${Math.round(singleCpuUs)} µs/request`);
  // What usage telemetry and rate-limit checks cost: the same load on two fresh servers, one
  // without them and one with them, alternated in this run. (Both fresh: the loaded store's larger
  // B-trees would otherwise count as the checks' cost.)
  const on = await startBenchServer();
  const off = await startBenchServer({ TESSERA_USAGE: 'off', TESSERA_RATE_LIMITS: 'off' });
  const rates = { on: 0, off: 0 };
  try {
    for (let round = 0; round < 2; round++) {
      rates.off += (await singleLoad(off, SINGLE_SECONDS / 2)).requests.average / 2;
      rates.on += (await singleLoad(on, SINGLE_SECONDS / 2)).requests.average / 2;
    }
  } finally {
    await off.close();
    await on.close();
  }
  log(`single with telemetry and limits: ${Math.round(rates.on)} req/s; without: ${Math.round(rates.off)} req/s`);

  // Phase 3: profile reads on the loaded store, by identity (a random known person each time).
  let seed = 1;
  const reads = await cannon({
    url: s.api,
    connections: 4,
    duration: 8,
    headers: { authorization: `Bearer ${KEY}` },
    requests: [
      {
        setupRequest: (req) => {
          seed = (seed * 1103515245 + 12345) % 2147483648;
          return { ...req, method: 'GET', path: `/api/instances/default/profiles?identity=email:${encodeURIComponent(emailOf(seed % PEOPLE))}` };
        },
      },
    ],
  });
  log(`reads: ${Math.round(reads.requests.average)} req/s, p50 ${reads.latency.p50} ms, p99 ${reads.latency.p99} ms (2xx ${reads['2xx']}, non-2xx ${reads.non2xx})`);
  const rss = peakRssMb(s.server.pid);
  const workerRss = s.worker ? peakRssMb(s.worker.pid) : undefined;

  const noopRate = await noopBaseline(SINGLE_CONNECTIONS, SINGLE_SECONDS, JSON.stringify({ record: { identityMap: { email: [{ id: 'single-0@bench.example.com' }] }, loyalty: { points: 1 } } }));
  log(`no-op fastify: ${Math.round(noopRate)} req/s`);
  const visibleSorted = [...visible].sort((a, b) => a - b);
  const backend = process.argv.includes('--backend') ? process.argv[process.argv.indexOf('--backend') + 1]! : 'embedded';
  report(
    backend === 'embedded' ? 'ingest' : `ingest-${backend}${s.worker ? '-nats' : ''}${MAX_APPLY_LAG_MS !== undefined ? '-lag-bound' : ''}`,
    {
      batch_messages_per_s: Math.round(batchRate),
      batch_acknowledged_per_s: Math.round(sent / ackSeconds),
      single_requests_per_s: Math.round(single.requests.average),
      single_p99_ms: single.latency.p99,
      batch_server_cpu_us_per_message: Math.round(batchCpuUs.server),
      ...(s.worker ? { batch_worker_cpu_us_per_message: Math.round(batchCpuUs.worker), batch_nats_cpu_us_per_message: Math.round(batchCpuUs.nats) } : {}),
      batch_vs_storage_floor_ratio: round(batchRate / floor.messagesPerSecond, 3),
      ...(floor.postgresCpuUsPerMessage !== undefined
        ? { batch_postgres_cpu_us_per_message: Math.round(batchCpuUs.postgres), postgres_cpu_vs_floor_ratio: round(batchCpuUs.postgres / floor.postgresCpuUsPerMessage, 3) }
        : {}),
      known_page_views_per_s: Math.round(viewsRate),
      known_page_views_server_cpu_us_per_message: Math.round(viewsCpuUs.server),
      ...(s.worker ? { known_page_views_worker_cpu_us_per_message: Math.round(viewsCpuUs.worker) } : {}),
      ...(BACKEND === 'postgres' ? { known_page_views_postgres_cpu_us_per_message: Math.round(viewsCpuUs.postgres) } : {}),
      single_server_cpu_us_per_request: Math.round(singleCpuUs),
      visible_after_ack_p50_ms: round(percentile(visibleSorted, 50)),
      visible_after_ack_p99_ms: round(percentile(visibleSorted, 99)),
      profile_read_p50_ms: reads.latency.p50,
      profile_read_p99_ms: reads.latency.p99,
      profile_reads_per_s: Math.round(reads.requests.average),
      peak_rss_mb: rss,
      ...(workerRss !== undefined ? { worker_peak_rss_mb: workerRss } : {}),
      single_vs_noop_ratio: round(single.requests.average / noopRate, 3),
      single_checks_on_requests_per_s: Math.round(rates.on),
      single_checks_off_requests_per_s: Math.round(rates.off),
      checks_on_vs_off_ratio: round(rates.on / rates.off, 3),
      messages_sent_count: sent,
      batches_sent_again_count: retried,
      people_count: PEOPLE,
    },
    {
      noop_fastify_requests_per_s: Math.round(noopRate),
      storage_floor_messages_per_s: Math.round(floor.messagesPerSecond),
      ...(floor.postgresCpuUsPerMessage !== undefined ? { postgres_floor_cpu_us_per_message: Math.round(floor.postgresCpuUsPerMessage) } : {}),
    },
    { command: `npm run bench:ingest -- --people ${PEOPLE}${backend === 'embedded' ? '' : ` --backend ${backend}`}${s.worker ? ' --nats' : ''}${MAX_APPLY_LAG_MS !== undefined ? ` --max-apply-lag ${MAX_APPLY_LAG_MS}` : ''}` },
  );
} finally {
  await s.close();
}
