/**
 * npm run bench:ingest [-- --people 1000000 --batch 500 --concurrency 6 --single-seconds 10]
 *
 * Drives a real Tessera server (separate process, embedded backend, fresh data dir) over HTTP:
 * batch ingestion of generated traffic, the single endpoint, ack-to-visible latency, profile reads
 * on the loaded store, peak RSS, and a bare Fastify no-op server's requests/s as the denominator.
 */
import autocannon from 'autocannon';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, percentile, peakRssMb, report, round, ROOT, startChild } from './lib/harness.js';
import { http, json } from './lib/http.js';
import { EVENT_SCHEMA, PROFILE_SCHEMA, emailOf, traffic, type Message } from './lib/traffic.js';

const PEOPLE = arg('people', 1_000_000);
const BATCH = arg('batch', 500);
const CONCURRENCY = arg('concurrency', 6);
const SINGLE_SECONDS = arg('single-seconds', 10);
const KEY = 'bench-admin-key-0123456789';
const log = (msg: string): void => void process.stderr.write(`[bench:ingest] ${msg}\n`);

async function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-'));
  const server = await startChild([...(process.env['BENCH_SERVER_NODE_ARGS'] ?? '').split(' ').filter(Boolean), join(ROOT, 'dist', 'cli', 'main.js'), 'serve', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDir, '--log-level', 'warn'], {
    TESSERA_BOOTSTRAP_ADMIN_KEY: KEY,
  });
  const api = `${server.url}/api/instances/default`;
  try {
    const profileSchema = await json<{ id: string }>('POST', `${api}/manage/schemas`, KEY, { name: 'Person', class: 'profile', jsonSchema: PROFILE_SCHEMA, fieldGroups: ['homeAddress'] });
    const eventSchema = await json<{ id: string }>('POST', `${api}/manage/schemas`, KEY, { name: 'Event', class: 'activity', jsonSchema: EVENT_SCHEMA });
    const crm = await json<{ id: string }>('POST', `${api}/manage/datasets`, KEY, { name: 'crm', schemaId: profileSchema.id });
    const events = await json<{ id: string }>('POST', `${api}/manage/datasets`, KEY, { name: 'events', schemaId: eventSchema.id });

    // Phase 1: batch ingestion of the generated traffic, with a visibility probe alongside.
    log(`batch phase: ${PEOPLE} people, batches of ${BATCH}, ${CONCURRENCY} concurrent`);
    // Bodies are made before the clock starts, so that the load generator (which shares this
    // 2-core machine) spends its CPU sending, not generating.
    const bodies: Array<{ body: string; count: number }> = [];
    let messages: Message[] = [];
    for (const m of traffic({ people: PEOPLE, profileDataset: crm.id, eventDataset: events.id })) {
      messages.push(m);
      if (messages.length === BATCH) {
        bodies.push({ body: JSON.stringify({ messages }), count: messages.length });
        messages = [];
      }
    }
    if (messages.length > 0) bodies.push({ body: JSON.stringify({ messages }), count: messages.length });
    log(`generated ${bodies.length} batches`);
    let sent = 0;
    let failedMessages = 0;
    let nextIndex = 0;
    const nextBatch = (): string | undefined => {
      const b = bodies[nextIndex++];
      if (!b) return undefined;
      sent += b.count;
      return b.body;
    };
    const visible: number[] = [];
    let probing = true;
    const probe = async (): Promise<void> => {
      for (let i = 0; probing; i++) {
        const email = `probe-${i}@bench.example.com`;
        const res = await http('POST', `${api}/collection/${crm.id}`, KEY, JSON.stringify({ record: { identityMap: { email: [{ id: email }] }, loyalty: { points: i } } }));
        const acked = performance.now();
        if (res.status !== 200) throw new Error(`probe: ${res.status} ${res.body}`);
        for (;;) {
          const read = await http('GET', `${api}/profiles?identity=email:${email}`, KEY);
          if (read.status === 200) break;
        }
        visible.push(performance.now() - acked);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const probeDone = probe();
    const started = performance.now();
    let lastLog = started;
    const worker = async (): Promise<void> => {
      for (let body = nextBatch(); body !== undefined; body = nextBatch()) {
        const res = await http('POST', `${api}/collection/batch`, KEY, body);
        if (res.status !== 207) throw new Error(`batch: ${res.status} ${res.body.slice(0, 300)}`);
        failedMessages += res.body.split('"error"').length - 1;
        if (performance.now() - lastLog > 5000) {
          lastLog = performance.now();
          log(`${sent} messages, ${Math.round(sent / ((lastLog - started) / 1000))}/s`);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const batchSeconds = (performance.now() - started) / 1000;
    probing = false;
    await probeDone;
    const batchRate = sent / batchSeconds;
    log(`batch: ${sent} messages in ${round(batchSeconds)} s = ${Math.round(batchRate)}/s (${failedMessages} rejected)`);

    // Phase 2: the single endpoint, one new person per request.
    let n = 0;
    const single = await cannon({
      url: `${api}/collection/${crm.id}`,
      method: 'POST',
      connections: 64,
      pipelining: 1,
      duration: SINGLE_SECONDS,
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      requests: [
        {
          setupRequest: (req) => ({ ...req, body: JSON.stringify({ record: { identityMap: { email: [{ id: `single-${n++}@bench.example.com` }] }, loyalty: { points: n } } }) }),
        },
      ],
    });
    const singleRate = single.requests.average;
    log(`single: ${Math.round(singleRate)} req/s, p99 ${single.latency.p99} ms, non-2xx ${single.non2xx}`);

    // Phase 3: profile reads on the loaded store, by identity (a random known person each time).
    let seed = 1;
    const reads = await cannon({
      url: api,
      connections: 4,
      duration: 8,
      headers: { authorization: `Bearer ${KEY}` },
      requests: [
        {
          setupRequest: (req) => {
            seed = (seed * 1103515245 + 12345) % 2147483648;
            const p = seed % PEOPLE;
            return { ...req, method: 'GET', path: `/api/instances/default/profiles?identity=email:${encodeURIComponent(emailOf(p))}` };
          },
        },
      ],
    });
    log(`reads: ${Math.round(reads.requests.average)} req/s, p50 ${reads.latency.p50} ms, p99 ${reads.latency.p99} ms (2xx ${reads['2xx']}, non-2xx ${reads.non2xx})`);
    const rss = peakRssMb(server.pid);

    // Denominator: bare Fastify no-op, same load shape as the single endpoint.
    const noop = await startChild(['--import', 'tsx', join(ROOT, 'bench', 'noop-server.ts')]);
    const noopResult = await cannon({
      url: `${noop.url}/noop/x`,
      method: 'POST',
      connections: 64,
      duration: SINGLE_SECONDS,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ record: { identityMap: { email: [{ id: 'single-0@bench.example.com' }] }, loyalty: { points: 1 } } }),
    });
    await noop.stop();
    const noopRate = noopResult.requests.average;
    log(`no-op fastify: ${Math.round(noopRate)} req/s`);

    const visibleSorted = [...visible].sort((a, b) => a - b);
    report(
      'ingest',
      {
        batch_messages_per_s: Math.round(batchRate),
        single_requests_per_s: Math.round(singleRate),
        single_p99_ms: single.latency.p99,
        visible_after_ack_p50_ms: round(percentile(visibleSorted, 50)),
        visible_after_ack_p99_ms: round(percentile(visibleSorted, 99)),
        profile_read_p50_ms: reads.latency.p50,
        profile_read_p99_ms: reads.latency.p99,
        profile_reads_per_s: Math.round(reads.requests.average),
        peak_rss_mb: rss,
        single_vs_noop_ratio: round(singleRate / noopRate, 3),
        messages_sent_count: sent,
        people_count: PEOPLE,
      },
      { noop_fastify_requests_per_s: Math.round(noopRate) },
      { command: `npm run bench:ingest -- --people ${PEOPLE}` },
    );
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
