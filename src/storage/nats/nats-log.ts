import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DiscardPolicy, jetstream, JetStreamApiError, jetstreamManager, RetentionPolicy, StorageType, type ConsumerMessages, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { TesseraError } from '../../domain/errors.js';
import type { IngestionLog, LoggedMessage, LogReader } from '../../ports/ingestion-log.js';

export interface NatsLogOptions {
  url: string;
  /** The JetStream stream (and subject prefix); one per deployment. */
  stream: string;
  partitions: number;
  /** The stream's limits: past them an append is refused (backpressure), never dropped. */
  maxMessages: number;
  maxBytes: number;
}

/** JetStream's API error codes for a stream at its message and byte limits (discard policy `new`). */
const LIMIT_CODES: ReadonlySet<number> = new Set([10077, 10078]);
/** Where a reader stops pulling until its buffer is worked off. */
const READER_BUFFER_BYTES = 16 * 1024 * 1024;
/** Bytes a reader asks the server for at once (at least twice the largest message). */
const PULL_BYTES = 2 * 1024 * 1024;
/** A reader's pull waits this long on an idle partition, and hears a heartbeat this often, by which lost deliveries are found. */
const PULL_EXPIRES_MS = 10_000;
const HEARTBEAT_MS = 2_000;
/** How long a readiness check waits for JetStream to answer. */
const CHECK_TIMEOUT_MS = 1_000;

/**
 * A partition's (or all partitions') messages from a sequence number on, through an ordered
 * consumer that is opened again, where the last message came in, when the server says it delivered
 * more than came. That happens when a connection breaks with deliveries in flight (the server cuts
 * a client it finds too slow, a network fault, a restart): the server counts them delivered, the
 * ordered consumer waits for the next one to see the gap, and on a partition that gets no more
 * messages the reader would wait for ever. The server's idle heartbeats carry the consumer's last
 * delivery; two of them in a row past the last delivery that came, with none coming in between
 * and the reader taking what it is given, open the consumer again.
 */
class NatsLogReader implements LogReader {
  private readonly buffer: LoggedMessage[] = [];
  private bytes = 0;
  private wake: (() => void) | undefined;
  private resume: (() => void) | undefined;
  private failure: unknown;
  private ended = false;
  private closed = false;
  private messages: ConsumerMessages | undefined;
  /** The last message taken into the buffer: its sequence number in the log, and in its consumer's deliveries. */
  private lastSeq: number;
  private lastDelivery = 0;

  private constructor(
    private readonly open: (fromSeq: number) => Promise<ConsumerMessages>,
    fromSeq: number,
  ) {
    this.lastSeq = fromSeq - 1;
  }

  static async start(open: (fromSeq: number) => Promise<ConsumerMessages>, fromSeq: number): Promise<NatsLogReader> {
    const reader = new NatsLogReader(open, fromSeq);
    reader.follow(await open(fromSeq));
    return reader;
  }

  private follow(messages: ConsumerMessages): void {
    this.messages = messages;
    this.lastDelivery = 0;
    void this.pump(messages);
    void this.watch(messages);
  }

  private async pump(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) {
        if (messages !== this.messages) return;
        const payload = m.string();
        this.buffer.push({ seq: m.seq, payload });
        this.lastSeq = m.seq;
        this.lastDelivery = m.info.deliverySequence;
        this.bytes += payload.length;
        this.wake?.();
        if (this.bytes > READER_BUFFER_BYTES) await new Promise<void>((resolve) => (this.resume = resolve));
      }
    } catch (err) {
      if (messages === this.messages) this.failure = err;
    } finally {
      if (messages === this.messages) {
        this.ended = true;
        this.wake?.();
      }
    }
  }

  /** Opens the consumer again when the server's heartbeats say that deliveries were lost. */
  private async watch(messages: ConsumerMessages): Promise<void> {
    let suspect: number | undefined;
    for await (const s of messages.status()) {
      if (messages !== this.messages) return;
      if (s.type !== 'heartbeat') continue;
      // While the buffer is full the reader takes nothing: what came may wait in the client.
      if (this.resume !== undefined || s.lastConsumerSequence <= this.lastDelivery) {
        suspect = undefined;
      } else if (suspect !== this.lastDelivery) {
        // A delivery that came moves it (within a consumer it only grows).
        suspect = this.lastDelivery;
      } else {
        await this.reopen(messages);
        return;
      }
    }
  }

  private async reopen(old: ConsumerMessages): Promise<void> {
    if (this.closed || old !== this.messages) return;
    this.messages = undefined;
    this.resume?.();
    this.resume = undefined;
    await old.close().catch(() => undefined);
    if (this.closed) return;
    try {
      const messages = await this.open(this.lastSeq + 1);
      if (this.closed) await messages.close();
      else this.follow(messages);
    } catch (err) {
      this.failure = err;
      this.ended = true;
      this.wake?.();
    }
  }

  async next(max: number, waitMs: number): Promise<LoggedMessage[]> {
    if (this.buffer.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, waitMs);
        const self = this;
        function done(): void {
          clearTimeout(timer);
          self.wake = undefined;
          resolve();
        }
        this.wake = done;
      });
    }
    if (this.buffer.length === 0 && this.failure) throw this.failure as Error;
    const out = this.buffer.splice(0, max);
    for (const m of out) this.bytes -= m.payload.length;
    if (this.bytes <= READER_BUFFER_BYTES && this.resume) {
      const r = this.resume;
      this.resume = undefined;
      r();
    }
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const messages = this.messages;
    this.messages = undefined;
    this.resume?.();
    await messages?.close();
  }
}

/**
 * The ingestion log on NATS JetStream: one stream, subjects `<stream>.p.<n>` for the partitions,
 * file storage, limits retention with discard `new` (a full stream refuses appends: the API
 * answers 503 and nothing is dropped). Consumed messages are trimmed by the consumers; readers
 * are ordered consumers that start where PostgreSQL says the last one stopped.
 */
export class NatsIngestionLog implements IngestionLog {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly options: NatsLogOptions,
    /** Answers readiness checks: its requests time out after CHECK_TIMEOUT_MS. */
    private readonly probe: JetStreamManager,
  ) {}

  static async open(options: NatsLogOptions): Promise<NatsIngestionLog> {
    let nc: NatsConnection;
    try {
      // noAsyncTraces: a request (each publish, each acknowledgement awaited) does not capture
      // its caller's stack up front, two Error objects a request that are dropped when it succeeds.
      nc = await connect({ servers: options.url, name: `tessera-${options.stream}`, maxReconnectAttempts: -1, noAsyncTraces: true });
    } catch (err) {
      throw new Error(`cannot reach NATS at ${options.url}: ${(err as Error).message}`);
    }
    const jsm = await jetstreamManager(nc);
    const description = `tessera ingestion log; partitions=${options.partitions}`;
    const config = {
      name: options.stream,
      subjects: [`${options.stream}.p.*`],
      description,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      storage: StorageType.File,
      max_msgs: options.maxMessages,
      max_bytes: options.maxBytes,
      duplicate_window: 120_000_000_000,
    };
    try {
      const info = await jsm.streams.info(options.stream);
      if (info.config.description !== description) {
        throw new Error(`the stream ${options.stream} was made with other partitions ("${info.config.description ?? ''}"); a stream keeps its partition count — use another stream name`);
      }
      if (info.config.max_msgs !== options.maxMessages || info.config.max_bytes !== options.maxBytes) await jsm.streams.update(options.stream, { ...info.config, max_msgs: options.maxMessages, max_bytes: options.maxBytes });
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== 10059) throw err;
      await jsm.streams.add(config);
    }
    return new NatsIngestionLog(nc, jetstream(nc), jsm, options, await jetstreamManager(nc, { timeout: CHECK_TIMEOUT_MS, checkAPI: false }));
  }

  get partitions(): number {
    return this.options.partitions;
  }

  private subject(partition: number): string {
    return `${this.options.stream}.p.${partition}`;
  }

  async append(partition: number, payload: string, messageId: string): Promise<number> {
    try {
      return (await this.js.publish(this.subject(partition), payload, { msgID: messageId, timeout: 10_000 })).seq;
    } catch (err) {
      if (err instanceof JetStreamApiError && LIMIT_CODES.has(err.code)) {
        throw new TesseraError('unavailable', 'log_full', 'the ingestion log is at its limit (the workers are behind or stopped); retry after the time Retry-After gives', { retryAfterSeconds: 1 });
      }
      throw new TesseraError('unavailable', 'log_unavailable', `the ingestion log did not take the message: ${(err as Error).message}; retry`, { retryAfterSeconds: 1 });
    }
  }

  async reader(partition: number | 'all', fromSeq: number): Promise<LogReader> {
    const filter = partition === 'all' ? `${this.options.stream}.p.*` : this.subject(partition);
    // Pulled by bytes: what a worker's readers have asked for and not yet taken stays well below
    // what the server holds for one client before it cuts it as too slow (64 MB by default);
    // twice the largest message, so that any message fits in a pull.
    const maxBytes = Math.max(PULL_BYTES, 2 * (this.nc.info?.max_payload ?? 0));
    return NatsLogReader.start(async (from) => {
      const consumer = await this.js.consumers.get(this.options.stream, { filter_subjects: filter, opt_start_seq: Math.max(1, from) });
      return consumer.consume({ max_bytes: maxBytes, expires: PULL_EXPIRES_MS, idle_heartbeat: HEARTBEAT_MS });
    }, fromSeq);
  }

  async lastSeq(): Promise<number> {
    return (await this.jsm.streams.info(this.options.stream)).state.last_seq;
  }

  async holdsAfter(partition: number, seq: number): Promise<boolean> {
    // The first message of the subject at or after seq + 1 (null: none). The message comes whole,
    // so this is asked of one partition at a time; the last message of each (last_by_subj), asked
    // of every partition, cost a polled worker ~3% of its CPU in the benchmark. (The client's
    // MsgRequest type leaves out next_by_subj, which the server takes since 2.9.)
    const query = { seq: seq + 1, next_by_subj: this.subject(partition) };
    return (await this.jsm.streams.getMessage(this.options.stream, query)) !== null;
  }

  async trim(partition: number, belowSeq: number): Promise<void> {
    if (belowSeq <= 1) return;
    await this.jsm.streams.purge(this.options.stream, { filter: this.subject(partition), seq: belowSeq });
  }

  async check(): Promise<void> {
    if (this.nc.isClosed()) throw new Error('the connection to NATS is closed');
    try {
      await this.probe.streams.info(this.options.stream);
    } catch (err) {
      throw new Error(`NATS JetStream does not answer for the stream ${this.options.stream}: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => this.nc.close());
  }
}
