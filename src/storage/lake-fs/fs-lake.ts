import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasync, fdatasyncSync, ftruncateSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { readdir, rm, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { createInterface } from 'node:readline';
import type { Lake, LakeEntry, LakeLine, LakePosition, StagedAppend } from '../../ports/lake.js';
import { storageFull } from '../../domain/storage-full.js';

const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;
const fdatasyncAsync = promisify(fdatasync);

interface OpenSegment {
  fd: number;
  size: number;
  relPath: string;
  /** The fdatasyncs in flight on this segment's descriptor (it is closed only once they end). */
  syncing: Set<Promise<void>>;
}

const q = JSON.stringify;

/**
 * An entry as its line of NDJSON: the receipt fields, `seq`, then the record as received. Written
 * out field by field (the writer makes one per record; a spread copy and a generic stringify cost
 * twice as much), and the parts that the entries of one request share are made once: the
 * instance and dataset, and the receipt after the record id.
 */
class LakeLineText {
  private head = { instanceId: '', datasetId: '', text: '' };
  private receipt: { of: LakeLine | undefined; text: string } = { of: undefined, text: '' };

  of(e: LakeLine, seq: number): string {
    if (e.instanceId !== this.head.instanceId || e.datasetId !== this.head.datasetId) {
      this.head = { instanceId: e.instanceId, datasetId: e.datasetId, text: `{"instanceId":${q(e.instanceId)},"datasetId":${q(e.datasetId)},"recordId":` };
    }
    return `${this.head.text}${q(e.recordId)},${this.receiptText(e)},"seq":${seq},"record":${e.recordJson}}\n`;
  }

  private receiptText(e: LakeLine): string {
    const last = this.receipt.of;
    if (
      last === undefined ||
      e.receivedAt !== last.receivedAt ||
      e.path !== last.path ||
      e.requestId !== last.requestId ||
      e.caller !== last.caller ||
      e.validUntil !== last.validUntil ||
      e.target !== last.target ||
      e.operation !== last.operation
    ) {
      let text = `"receivedAt":${q(e.receivedAt)},"path":${q(e.path)},"requestId":${q(e.requestId)},"caller":${q(e.caller)}`;
      if (e.validUntil !== undefined) text += `,"validUntil":${q(e.validUntil)}`;
      if (e.target !== undefined) text += `,"target":${q(e.target)}`;
      if (e.operation !== undefined) text += `,"operation":${q(e.operation)}`;
      this.receipt = { of: e, text };
    }
    return this.receipt.text;
  }
}

/** Lines as one buffer of UTF-8, with the byte offset past each (encoded once: no separate length pass). */
function encodeLines(lines: readonly string[]): { buffer: Buffer; ends: number[] } {
  let chars = 0;
  for (const line of lines) chars += line.length;
  // A UTF-16 code unit is at most three bytes of UTF-8.
  const buffer = Buffer.allocUnsafe(chars * 3);
  const ends: number[] = new Array<number>(lines.length);
  let off = 0;
  for (let i = 0; i < lines.length; i++) ends[i] = off += buffer.write(lines[i]!, off);
  return { buffer: buffer.subarray(0, off), ends };
}

/**
 * The lake on a local directory: NDJSON segments under
 * `<root>/<instance>/<dataset>/date=YYYY-MM-DD/part-<start ms>-<random>-<n>.ndjson`, one entry a line.
 * `append` writes every entry of a call on the calling thread, so that appends land in call order,
 * and fdatasyncs the touched segments before it returns, off the thread (but an import's large
 * appends: `syncImportsOnThreadFromBytes`): the thread goes on with other work meanwhile (the
 * embedded writer applies the group before while this one syncs).
 */
export class FsLake implements Lake {
  private readonly open = new Map<string, OpenSegment>();
  /** Unique per writer: segment names never collide, whoever writes. */
  private readonly writerTag = `${Date.now()}-${randomBytes(4).toString('hex')}`;
  private counter = 0;
  private lastSeq = 0;
  private lastDay = { day: Number.NaN, text: '' };
  private readonly lineText = new LakeLineText();

  private readonly syncImportsOnThreadFromBytes: number;

  /**
   * `syncImportsOnThreadFromBytes`: an append that holds an import's records (path `batch`) and
   * writes at least this many bytes to a segment is synced on the calling thread, which waits
   * (default: none is). The embedded writer sets it: an import is bound by its apply, and
   * overlapping its syncs bought nothing measurable, while holding several of its large groups at
   * once raised its peak RSS by 35-40 MB. Every other append (streaming batches, single messages,
   * real-time changes) is synced off the thread, whatever its size, while the writer applies the
   * group before it.
   */
  constructor(
    private readonly root: string,
    options: { syncImportsOnThreadFromBytes?: number } = {},
  ) {
    this.syncImportsOnThreadFromBytes = options.syncImportsOnThreadFromBytes ?? Infinity;
  }

  /**
   * Writes the buffer at the segment's end (its size before it: `start`) and syncs it, on this
   * thread or off it. A write that fails partway (a full disk) is cut off again, so that the next
   * append starts where the positions say and no line is torn in the middle of the segment; if
   * even that fails, the segment is closed and the next append opens a new one (a torn last line
   * of a segment is skipped by readers).
   */
  private async writeDurably(dir: string, segment: OpenSegment, start: number, buffer: Buffer, syncOnThread: boolean): Promise<void> {
    try {
      for (let off = 0; off < buffer.length; ) off += writeSync(segment.fd, buffer, off, buffer.length - off);
    } catch (err) {
      try {
        ftruncateSync(segment.fd, start);
        segment.size = start;
      } catch {
        void this.retire(dir, segment);
      }
      throw storageFull(err, 'the lake') ?? err;
    }
    // A sync can fail for want of room too (a file system that allocates blocks only as it syncs).
    try {
      if (syncOnThread) {
        fdatasyncSync(segment.fd);
        return;
      }
      const sync = fdatasyncAsync(segment.fd);
      segment.syncing.add(sync);
      try {
        await sync;
      } finally {
        segment.syncing.delete(sync);
      }
    } catch (err) {
      throw storageFull(err, 'the lake') ?? err;
    }
  }

  /** Takes the segment out of use and closes its descriptor once no sync is in flight on it. */
  private retire(dir: string, segment: OpenSegment): Promise<void> {
    if (this.open.get(dir) === segment) this.open.delete(dir);
    if (segment.syncing.size === 0) {
      closeSync(segment.fd);
      return Promise.resolve();
    }
    return Promise.allSettled([...segment.syncing]).then(() => closeSync(segment.fd));
  }

  async append(entries: readonly LakeLine[]): Promise<LakePosition[]> {
    const staged = this.stage(entries);
    await staged.durable;
    return staged.positions;
  }

  /** The lines are encoded and written (to the page cache) on the calling thread now; `durable` resolves once they are synced. */
  stage(entries: readonly LakeLine[]): StagedAppend {
    const groups = new Map<string, { lines: string[]; indexes: number[] }>();
    // Increasing across segments and restarts (microseconds since the epoch, or one more).
    const nowSeq = Date.now() * 1000;
    let last: { instanceId: string; datasetId: string; day: string; group: { lines: string[]; indexes: number[] } } | undefined;
    entries.forEach((entry, index) => {
      const day = this.dayOf(entry.receivedAt);
      if (last === undefined || entry.instanceId !== last.instanceId || entry.datasetId !== last.datasetId || day !== last.day) {
        const dir = `${entry.instanceId}/${entry.datasetId}/date=${day}`;
        let group = groups.get(dir);
        if (!group) groups.set(dir, (group = { lines: [], indexes: [] }));
        last = { instanceId: entry.instanceId, datasetId: entry.datasetId, day, group };
      }
      this.lastSeq = Math.max(this.lastSeq + 1, nowSeq);
      last.group.lines.push(this.lineText.of(entry, this.lastSeq));
      last.group.indexes.push(index);
    });
    const positions: LakePosition[] = new Array<LakePosition>(entries.length);
    const writes: Array<Promise<void>> = [];
    const importing = this.syncImportsOnThreadFromBytes !== Infinity && entries.some((e) => e.path === 'batch');
    for (const [dir, group] of groups) {
      const segment = this.segmentFor(dir);
      const { buffer, ends } = encodeLines(group.lines);
      group.indexes.forEach((entryIndex, i) => {
        positions[entryIndex] = { segment: segment.relPath, end: segment.size + ends[i]! };
      });
      const start = segment.size;
      segment.size += buffer.length;
      writes.push(this.writeDurably(dir, segment, start, buffer, importing && buffer.length >= this.syncImportsOnThreadFromBytes));
      if (segment.size >= SEGMENT_MAX_BYTES) void this.retire(dir, segment);
    }
    const durable = Promise.all(writes).then(() => undefined);
    // Whoever stages an append awaits `durable` later (after other work): a failure is theirs to hear then, not unhandled now.
    durable.catch(() => undefined);
    return { positions, durable };
  }

  /** The UTC day of a time as YYYY-MM-DD (the records of a group mostly share one). */
  private dayOf(ms: number): string {
    const day = Math.floor(ms / 86_400_000);
    if (day !== this.lastDay.day) this.lastDay = { day, text: new Date(day * 86_400_000).toISOString().slice(0, 10) };
    return this.lastDay.text;
  }

  private segmentFor(dir: string): OpenSegment {
    const current = this.open.get(dir);
    if (current) return current;
    const absDir = join(this.root, dir);
    mkdirSync(absDir, { recursive: true });
    const name = `part-${this.writerTag}-${String(++this.counter).padStart(6, '0')}.ndjson`;
    const fd = openSync(join(absDir, name), 'a');
    const segment: OpenSegment = { fd, size: 0, relPath: `${dir}/${name}`, syncing: new Set() };
    this.open.set(dir, segment);
    return segment;
  }

  async segments(): Promise<Array<{ segment: string; size: number }>> {
    const out: Array<{ segment: string; size: number }> = [];
    const walk = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return;
      }
      for (const name of names.sort()) {
        const full = join(dir, name);
        const info = await stat(full);
        if (info.isDirectory()) await walk(full);
        else if (name.endsWith('.ndjson')) out.push({ segment: relative(this.root, full).split(sep).join('/'), size: info.size });
        else if (name.endsWith('.parquet')) {
          // A compacted segment: its "size" and offsets count rows, not bytes.
          const meta = await parquetMetadataAsync(await asyncBufferFromFile(full));
          out.push({ segment: relative(this.root, full).split(sep).join('/'), size: Number(meta.num_rows) });
        }
      }
    };
    await walk(this.root);
    return out;
  }

  async *read(segment: string, fromOffset: number): AsyncIterable<{ entry: LakeEntry; end: number }> {
    if (segment.endsWith('.parquet')) {
      yield* this.readParquet(segment, fromOffset);
      return;
    }
    const stream = createReadStream(join(this.root, segment), { start: fromOffset });
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let offset = fromOffset;
    for await (const line of lines) {
      offset += Buffer.byteLength(line) + 1;
      if (line.trim() === '') continue;
      let entry: LakeEntry;
      try {
        entry = JSON.parse(line) as LakeEntry;
      } catch {
        // A torn last line from a crash before its ack: it was never acknowledged, so skip it.
        continue;
      }
      yield { entry, end: offset };
    }
  }

  private async *readParquet(segment: string, fromRow: number): AsyncIterable<{ entry: LakeEntry; end: number }> {
    const file = await asyncBufferFromFile(join(this.root, segment));
    const groups = (await parquetMetadataAsync(file)).row_groups;
    let start = 0;
    for (const g of groups) {
      const end = start + Number(g.num_rows);
      if (end > fromRow) {
        const rows = (await parquetReadObjects({ file, rowStart: Math.max(start, fromRow), rowEnd: end })) as Array<Record<string, unknown>>;
        let row = Math.max(start, fromRow);
        for (const r of rows) {
          row++;
          const entry: LakeEntry = {
            instanceId: String(r['instanceId']),
            datasetId: String(r['datasetId']),
            recordId: String(r['recordId']),
            receivedAt: Number(r['receivedAt']),
            path: String(r['path']) as LakeEntry['path'],
            requestId: String(r['requestId']),
            caller: r['caller'] === null || r['caller'] === undefined ? null : String(r['caller']),
            seq: Number(r['seq']),
            record: (typeof r['record'] === 'string' ? JSON.parse(r['record']) : r['record']) as LakeEntry['record'],
          };
          if (r['validUntil'] !== null && r['validUntil'] !== undefined) entry.validUntil = Number(r['validUntil']);
          if (r['target'] !== null && r['target'] !== undefined) entry.target = String(r['target']);
          if (r['operation'] === 'patch' || r['operation'] === 'delete') entry.operation = r['operation'];
          yield { entry, end: row };
        }
      }
      start = end;
    }
  }

  /**
   * Rewrites a closed NDJSON segment as a Parquet file beside it (written to a temporary name,
   * synced, renamed), then removes the NDJSON. Returns the new segment's name and row count.
   */
  async compact(segment: string): Promise<{ segment: string; rows: number }> {
    if (!segment.endsWith('.ndjson')) throw new Error(`${segment} is not an NDJSON segment`);
    if (this.isOpen(segment)) throw new Error(`${segment} is still being written`);
    const entries: LakeEntry[] = [];
    for await (const { entry } of this.read(segment, 0)) entries.push(entry);
    const col = <T>(f: (e: LakeEntry) => T): T[] => entries.map(f);
    const buffer = parquetWriteBuffer({
      columnData: [
        { name: 'seq', data: col((e) => e.seq ?? 0), type: 'DOUBLE' },
        { name: 'instanceId', data: col((e) => e.instanceId), type: 'STRING' },
        { name: 'datasetId', data: col((e) => e.datasetId), type: 'STRING' },
        { name: 'recordId', data: col((e) => e.recordId), type: 'STRING' },
        { name: 'receivedAt', data: col((e) => e.receivedAt), type: 'DOUBLE' },
        { name: 'path', data: col((e) => e.path), type: 'STRING' },
        { name: 'requestId', data: col((e) => e.requestId), type: 'STRING' },
        { name: 'caller', data: col((e) => e.caller), type: 'STRING' },
        { name: 'validUntil', data: col((e) => e.validUntil ?? null), type: 'DOUBLE' },
        { name: 'target', data: col((e) => e.target ?? null), type: 'STRING' },
        { name: 'operation', data: col((e) => e.operation ?? null), type: 'STRING' },
        { name: 'record', data: col((e) => JSON.stringify(e.record)), type: 'JSON' },
      ],
    });
    const target = segment.replace(/\.ndjson$/, '.parquet');
    const tmp = join(this.root, `${target}.tmp`);
    const fd = openSync(tmp, 'w');
    const bytes = Buffer.from(buffer);
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    fdatasyncSync(fd);
    closeSync(fd);
    renameSync(tmp, join(this.root, target));
    unlinkSync(join(this.root, segment));
    return { segment: target, rows: entries.length };
  }

  /** Whether this writer may still append to the segment (then it is not closed). */
  isOpen(segment: string): boolean {
    return [...this.open.values()].some((o) => o.relPath === segment);
  }

  async dropPartitionsBefore(instanceId: string, datasetId: string, day: string): Promise<string[]> {
    const dir = join(this.root, instanceId, datasetId);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return [];
    }
    const dropped: string[] = [];
    for (const name of names) {
      const date = /^date=(\d{4}-\d{2}-\d{2})$/.exec(name)?.[1];
      if (date === undefined || date >= day) continue;
      const rel = `${instanceId}/${datasetId}/${name}`;
      const open = this.open.get(rel);
      if (open) await this.retire(rel, open);
      await rm(join(dir, name), { recursive: true, force: true });
      dropped.push(rel);
    }
    return dropped;
  }

  /** Closes the segments of past days: nothing is appended to them any more. */
  closeBefore(day: string): void {
    for (const [dir, o] of this.open) {
      const date = /date=(\d{4}-\d{2}-\d{2})/.exec(dir)?.[1];
      if (date !== undefined && date < day) void this.retire(dir, o);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.open].map(([dir, segment]) => this.retire(dir, segment)));
  }
}
