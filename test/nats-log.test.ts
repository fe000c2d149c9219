import { connect } from '@nats-io/transport-node';
import { jetstreamManager, type ConsumerInfo } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoggedMessage, LogReader } from '../src/ports/ingestion-log.js';
import { NatsIngestionLog } from '../src/storage/nats/nats-log.js';
import { deleteStream, NATS_URL, natsForTests } from './helpers/nats.js';
import { tcpProxy } from './helpers/tcp-proxy.js';

/** The ingestion log's adapter on a real NATS JetStream, with the connection broken on the way. */
const ready = await natsForTests();
const cleanup: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Reads until `count` messages came, or `ms` passed (what came by then). */
async function readFor(reader: LogReader, count: number, ms: number): Promise<LoggedMessage[]> {
  const out: LoggedMessage[] = [];
  const end = Date.now() + ms;
  while (out.length < count && Date.now() < end) out.push(...(await reader.next(count - out.length, 250)));
  return out;
}

/** The stream's consumers as the server sees them. */
async function consumersOf(stream: string): Promise<ConsumerInfo[]> {
  const nc = await connect({ servers: NATS_URL });
  try {
    return await (await jetstreamManager(nc)).consumers.list(stream).next();
  } finally {
    await nc.close();
  }
}

/** How far the server has delivered the stream to its consumers. */
const deliveredThrough = async (stream: string): Promise<number> => Math.max(0, ...(await consumersOf(stream)).map((c) => c.delivered.stream_seq));

describe.skipIf(!ready)('the ingestion log on NATS JetStream', () => {
  it('a reader gets again, in order and once each, the messages the server delivered into a connection that broke before they arrived', async () => {
    const stream = `T_LOG_${Date.now().toString(36).toUpperCase()}`;
    const [host, port] = NATS_URL.split(':') as [string, string];
    const proxy = await tcpProxy({ host, port: Number(port) });
    cleanup.push(() => proxy.close());
    const options = { stream, partitions: 1, maxMessages: 10_000, maxBytes: 64 * 1024 * 1024 };
    const writer = await NatsIngestionLog.open({ ...options, url: NATS_URL });
    cleanup.push(() => deleteStream(stream), () => writer.close());
    const readerLog = await NatsIngestionLog.open({ ...options, url: `127.0.0.1:${proxy.port}` });
    cleanup.push(() => readerLog.close());
    const reader = await readerLog.reader(0, 1);
    cleanup.push(() => reader.close());

    await writer.append(0, 'm1', 'id-1');
    expect(await readFor(reader, 1, 10_000)).toEqual([{ seq: 1, payload: 'm1' }]);

    // The server hands m2..m20 to the reader's waiting pull; they are lost on the way, and the
    // connection breaks (as a server does to a client it finds too slow). Nothing more is appended.
    proxy.loseReplies(true);
    for (let i = 2; i <= 20; i++) await writer.append(0, `m${i}`, `id-${i}`);
    const until = Date.now() + 10_000;
    while ((await deliveredThrough(stream)) < 20 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(await deliveredThrough(stream)).toBe(20);
    proxy.cut();

    const again = await readFor(reader, 19, 30_000);
    expect(again).toEqual(Array.from({ length: 19 }, (_, i) => ({ seq: i + 2, payload: `m${i + 2}` })));
    expect(await readFor(reader, 1, 1_000)).toEqual([]);
  }, 60_000);

  it('a reader of a quiet partition keeps its consumer while the other partitions are written', async () => {
    const stream = `T_LOG_${Date.now().toString(36).toUpperCase()}`;
    const log = await NatsIngestionLog.open({ url: NATS_URL, stream, partitions: 2, maxMessages: 10_000, maxBytes: 64 * 1024 * 1024 });
    cleanup.push(() => deleteStream(stream), () => log.close());
    await log.append(0, 'a1', 'id-a1');
    const reader = await log.reader(0, 1);
    cleanup.push(() => reader.close());
    expect(await readFor(reader, 1, 10_000)).toEqual([{ seq: 1, payload: 'a1' }]);
    const consumers = async (): Promise<string[]> => (await consumersOf(stream)).map((c) => c.name).sort();
    const before = await consumers();
    expect(before).toHaveLength(1);
    for (let i = 1; i <= 20; i++) await log.append(1, `b${i}`, `id-b${i}`);
    // Three of the reader's heartbeats (every 2 s), its consumer past every message of partition 1.
    expect(await readFor(reader, 1, 6_500)).toEqual([]);
    expect(await consumers()).toEqual(before);
    await log.append(0, 'a2', 'id-a2');
    expect(await readFor(reader, 1, 10_000)).toEqual([{ seq: 22, payload: 'a2' }]);
  }, 60_000);

  it("knows the log's last message and whether a partition holds one after a given one, trimmed or not", async () => {
    const stream = `T_LOG_${Date.now().toString(36).toUpperCase()}`;
    const log = await NatsIngestionLog.open({ url: NATS_URL, stream, partitions: 3, maxMessages: 10_000, maxBytes: 64 * 1024 * 1024 });
    cleanup.push(() => deleteStream(stream), () => log.close());
    expect(await log.lastSeq()).toBe(0);
    expect(await log.holdsAfter(0, 0)).toBe(false);
    // Sequence numbers 1-4: partitions 0, 1, 0, 1; partition 2 gets none.
    for (const [i, p] of [0, 1, 0, 1].entries()) await log.append(p, `m${i + 1}`, `id-${i + 1}`);
    expect(await log.lastSeq()).toBe(4);
    expect([await log.holdsAfter(0, 0), await log.holdsAfter(0, 1), await log.holdsAfter(0, 3)]).toEqual([true, true, false]);
    expect([await log.holdsAfter(1, 3), await log.holdsAfter(1, 4), await log.holdsAfter(2, 0)]).toEqual([true, false, false]);
    // Trimmed away, the messages still count for the last sequence number, and no longer as held.
    await log.trim(0, 4);
    await log.trim(1, 5);
    expect(await log.lastSeq()).toBe(4);
    expect([await log.holdsAfter(0, 0), await log.holdsAfter(1, 0)]).toEqual([false, false]);
  });
});
