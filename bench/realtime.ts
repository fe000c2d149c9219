/**
 * npm run bench:realtime [-- --people 1000000 --seconds 10 --connections 64]
 *
 * Loads a real Tessera server with generated people over the batch endpoint, then measures the
 * real-time API on that store: PATCH …/data/Customer/{id} and POST …/data/UnifiedActivity
 * (requests/s, p50/p99), with a bare Fastify no-op server's requests/s as the denominator.
 */
import { arg, cpuSeconds, peakRssMb, report, round } from './lib/harness.js';
import { json } from './lib/http.js';
import { cannon, KEY, noopBaseline, sendBatches, startBenchServer, trafficBatches } from './lib/tessera-bench.js';
import { emailOf } from './lib/traffic.js';

const PEOPLE = arg('people', 1_000_000);
const SECONDS = arg('seconds', 10);
const CONNECTIONS = arg('connections', 64);
const SAMPLE = 5000;
const log = (msg: string): void => void process.stderr.write(`[bench:realtime] ${msg}\n`);

const s = await startBenchServer();
try {
  const bodies = trafficBatches(PEOPLE, s, 500);
  log(`loading ${PEOPLE} people (${bodies.length} batches)`);
  const loaded = await sendBatches(s, bodies, 8);
  log(`loaded ${loaded.sent} messages`);
  // Customer ids of a random sample of people, found by identity.
  const ids: string[] = [];
  for (let i = 0; i < SAMPLE; i++) {
    const p = Math.floor((i * 2654435761) % PEOPLE);
    ids.push((await json<{ customerId: string }>('GET', `${s.api}/profiles?identity=email:${encodeURIComponent(emailOf(p))}`, KEY)).customerId);
  }
  let k = 0;
  const pick = (): string => ids[(k++ * 7919) % ids.length]!;
  const headers = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

  let cpu = cpuSeconds(s.server.pid);
  const patch = await cannon({
    url: s.api,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers,
    requests: [{ setupRequest: (req) => ({ ...req, method: 'PATCH', path: `/api/instances/default/data/Customer/${pick()}?caller=bench`, body: JSON.stringify({ loyalty: { points: k }, homeAddress: { city: `City ${k % 50}` } }) }) }],
  });
  const patchCpuUs = ((cpuSeconds(s.server.pid) - cpu) * 1e6) / patch.requests.total;
  log(`PATCH: ${Math.round(patch.requests.average)} req/s, p50 ${patch.latency.p50} ms, p99 ${patch.latency.p99} ms, non-2xx ${patch.non2xx}, server CPU ${Math.round(patchCpuUs)} µs/request`);
  cpu = cpuSeconds(s.server.pid);

  let a = 0;
  const activity = await cannon({
    url: s.api,
    connections: CONNECTIONS,
    duration: SECONDS,
    headers,
    requests: [
      {
        setupRequest: (req) => ({
          ...req,
          method: 'POST',
          path: '/api/instances/default/data/UnifiedActivity?caller=bench',
          body: JSON.stringify({ ActivityId: `rt-${a++}`, CustomerId: pick(), ActivityTime: new Date().toISOString(), ActivityType: 'SupportCall', Title: 'Called about an order', SemanticData: { minutes: a % 30 } }),
        }),
      },
    ],
  });
  const activityCpuUs = ((cpuSeconds(s.server.pid) - cpu) * 1e6) / activity.requests.total;
  log(`activity POST: ${Math.round(activity.requests.average)} req/s, p50 ${activity.latency.p50} ms, p99 ${activity.latency.p99} ms, non-2xx ${activity.non2xx}, server CPU ${Math.round(activityCpuUs)} µs/request`);
  if (patch.non2xx + activity.non2xx > 0) throw new Error(`${patch.non2xx + activity.non2xx} requests failed; the figures would mean nothing`);
  const rss = peakRssMb(s.server.pid);
  const noopRate = await noopBaseline(CONNECTIONS, SECONDS, JSON.stringify({ loyalty: { points: 1 }, homeAddress: { city: 'City 1' } }));
  log(`no-op fastify: ${Math.round(noopRate)} req/s`);
  report(
    'realtime',
    {
      patch_requests_per_s: Math.round(patch.requests.average),
      patch_p50_ms: patch.latency.p50,
      patch_p99_ms: patch.latency.p99,
      activity_requests_per_s: Math.round(activity.requests.average),
      activity_p50_ms: activity.latency.p50,
      activity_p99_ms: activity.latency.p99,
      patch_server_cpu_us_per_request: Math.round(patchCpuUs),
      activity_server_cpu_us_per_request: Math.round(activityCpuUs),
      patch_vs_noop_ratio: round(patch.requests.average / noopRate, 3),
      activity_vs_noop_ratio: round(activity.requests.average / noopRate, 3),
      non_2xx_count: patch.non2xx + activity.non2xx,
      peak_rss_mb: rss,
      people_count: PEOPLE,
    },
    { noop_fastify_requests_per_s: Math.round(noopRate) },
    { command: `npm run bench:realtime -- --people ${PEOPLE}` },
  );
} finally {
  await s.close();
}
