/**
 * npm run bench:realtime [-- --people 1000000 --seconds 10 --connections 16,32,48,64]
 *
 * Loads a real Tessera server with generated people over the batch endpoint, then measures the
 * real-time API on that store: PATCH …/data/Customer/{id} and POST …/data/UnifiedActivity, each at
 * several load levels (requests/s, p50/p99, server CPU a request). More connections give larger
 * group commits, so more requests/s, and longer queues, so a higher p99: reported are each level,
 * the peak, and the highest rate whose p99 is within the goal (10 ms). The denominator is a bare
 * Fastify no-op server's requests/s at the highest level.
 */
import type autocannon from 'autocannon';
import { arg, cpuSeconds, peakRssMb, report, round } from './lib/harness.js';
import { json } from './lib/http.js';
import { cannon, KEY, noopBaseline, sendBatches, startBenchServer, trafficBatches } from './lib/tessera-bench.js';
import { emailOf } from './lib/traffic.js';

const PEOPLE = arg('people', 1_000_000);
const SECONDS = arg('seconds', 10);
/** Load levels: autocannon connections, each with one request in flight (a closed loop). */
const DEFAULT_CONNECTIONS = '16,32,48,64';
const CONNECTIONS = (process.argv.includes('--connections') ? process.argv[process.argv.indexOf('--connections') + 1]! : DEFAULT_CONNECTIONS).split(',').map(Number);
if (CONNECTIONS.some((c) => !Number.isInteger(c) || c < 1)) throw new Error('--connections takes a comma-separated list of counts, e.g. 16,32,64');
/** The issue's latency goal: the highest rate with p99 at or under it is reported too. */
const P99_GOAL_MS = 10;
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
  type Request = autocannon.Request;
  interface Level {
    connections: number;
    rate: number;
    p50: number;
    p99: number;
    cpuUs: number;
  }

  let a = 0;
  const patchRequest = (req: Request): Request => ({ ...req, method: 'PATCH', path: `/api/instances/default/data/Customer/${pick()}?caller=bench`, body: JSON.stringify({ loyalty: { points: k }, homeAddress: { city: `City ${k % 50}` } }) });
  const activityRequest = (req: Request): Request => ({
    ...req,
    method: 'POST',
    path: '/api/instances/default/data/UnifiedActivity?caller=bench',
    body: JSON.stringify({ ActivityId: `rt-${a++}`, CustomerId: pick(), ActivityTime: new Date().toISOString(), ActivityType: 'SupportCall', Title: 'Called about an order', SemanticData: { minutes: a % 30 } }),
  });

  /** One operation at each connection count: requests/s, p50, p99 and server CPU a request. */
  const sweep = async (name: string, setupRequest: (req: Request) => Request): Promise<Level[]> => {
    const levels: Level[] = [];
    for (const connections of CONNECTIONS) {
      const cpu = cpuSeconds(s.server.pid);
      const r = await cannon({ url: s.api, connections, duration: SECONDS, headers, requests: [{ setupRequest }] });
      if (r.non2xx > 0) throw new Error(`${name}: ${r.non2xx} requests failed; the figures would mean nothing`);
      const cpuUs = ((cpuSeconds(s.server.pid) - cpu) * 1e6) / r.requests.total;
      const level = { connections, rate: Math.round(r.requests.average), p50: r.latency.p50, p99: r.latency.p99, cpuUs: Math.round(cpuUs) };
      log(`${name}, ${connections} connections: ${level.rate} req/s, p50 ${level.p50} ms, p99 ${level.p99} ms, server CPU ${level.cpuUs} µs/request`);
      levels.push(level);
    }
    return levels;
  };
  const patch = await sweep('PATCH', patchRequest);
  const activity = await sweep('activity POST', activityRequest);
  const rss = peakRssMb(s.server.pid);
  const top = Math.max(...CONNECTIONS);
  const noopRate = await noopBaseline(top, SECONDS, JSON.stringify({ loyalty: { points: 1 }, homeAddress: { city: 'City 1' } }));
  log(`no-op fastify (${top} connections): ${Math.round(noopRate)} req/s`);
  const figures: Record<string, number> = {};
  for (const [op, levels] of [['patch', patch], ['activity', activity]] as const) {
    for (const l of levels) {
      figures[`${op}_c${l.connections}_requests_per_s`] = l.rate;
      figures[`${op}_c${l.connections}_p50_ms`] = l.p50;
      figures[`${op}_c${l.connections}_p99_ms`] = l.p99;
      figures[`${op}_c${l.connections}_server_cpu_us_per_request`] = l.cpuUs;
    }
    // The most the API serves with its p99 within the goal (0 when no load level keeps it there).
    const within = levels.filter((l) => l.p99 <= P99_GOAL_MS).sort((x, y) => y.rate - x.rate)[0];
    figures[`${op}_within_p99_goal_requests_per_s`] = within?.rate ?? 0;
    figures[`${op}_within_p99_goal_connections_count`] = within?.connections ?? 0;
    figures[`${op}_peak_requests_per_s`] = Math.max(...levels.map((l) => l.rate));
    figures[`${op}_peak_vs_noop_ratio`] = round(figures[`${op}_peak_requests_per_s`]! / noopRate, 3);
  }
  report(
    'realtime',
    { ...figures, peak_rss_mb: rss, people_count: PEOPLE },
    { noop_fastify_requests_per_s: Math.round(noopRate) },
    { command: `npm run bench:realtime -- --people ${PEOPLE}${CONNECTIONS.join(',') === DEFAULT_CONNECTIONS ? '' : ` --connections ${CONNECTIONS.join(',')}`}` },
  );
} finally {
  await s.close();
}
