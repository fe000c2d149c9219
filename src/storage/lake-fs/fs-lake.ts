import { createReadStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { createInterface } from 'node:readline';
import type { Lake, LakeEntry, LakeLine, LakePosition } from '../../ports/lake.js';

const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;

interface OpenSegment {
  fd: number;
  size: number;
  relPath: string;
}

/**
 * The lake on a local directory: NDJSON segments under
 * `<root>/<instance>/<dataset>/date=YYYY-MM-DD/part-<start ms>-<random>-<n>.ndjson`, one entry a line.
 * `append` writes every entry of a call and fdatasyncs the touched segments before it returns. It
 * uses blocking calls: it runs on the writer thread, where a group commit waits for it anyway.
 */
export class FsLake implements Lake {
  private readonly open = new Map<string, OpenSegment>();
  /** Unique per writer: segment names never collide, whoever writes. */
  private readonly writerTag = `${Date.now()}-${randomBytes(4).toString('hex')}`;
  private counter = 0;
  private lastSeq = 0;

  constructor(private readonly root: string) {}

  async append(entries: readonly LakeLine[]): Promise<LakePosition[]> {
    const groups = new Map<string, { lines: string[]; indexes: number[]; bytes: number[] }>();
    entries.forEach((entry, index) => {
      const dir = `${entry.instanceId}/${entry.datasetId}/date=${new Date(entry.receivedAt).toISOString().slice(0, 10)}`;
      const group = groups.get(dir) ?? { lines: [], indexes: [], bytes: [] };
      const { recordJson, ...rest } = entry;
      // Increasing across segments and restarts (microseconds since the epoch, or one more).
      this.lastSeq = Math.max(this.lastSeq + 1, Date.now() * 1000);
      const meta = { ...rest, seq: this.lastSeq };
      const line = `${JSON.stringify(meta).slice(0, -1)},"record":${recordJson}}\n`;
      group.lines.push(line);
      group.indexes.push(index);
      group.bytes.push(Buffer.byteLength(line));
      groups.set(dir, group);
    });
    const positions: LakePosition[] = new Array<LakePosition>(entries.length);
    for (const [dir, group] of groups) {
      const segment = this.segmentFor(dir);
      const start = segment.size;
      const buffer = Buffer.from(group.lines.join(''));
      for (let off = 0; off < buffer.length; ) off += writeSync(segment.fd, buffer, off, buffer.length - off);
      fdatasyncSync(segment.fd);
      let end = start;
      group.indexes.forEach((entryIndex, i) => {
        end += group.bytes[i]!;
        positions[entryIndex] = { segment: segment.relPath, end };
      });
      segment.size = end;
      if (segment.size >= SEGMENT_MAX_BYTES) {
        this.open.delete(dir);
        closeSync(segment.fd);
      }
    }
    return positions;
  }

  private segmentFor(dir: string): OpenSegment {
    const current = this.open.get(dir);
    if (current) return current;
    const absDir = join(this.root, dir);
    mkdirSync(absDir, { recursive: true });
    const name = `part-${this.writerTag}-${String(++this.counter).padStart(6, '0')}.ndjson`;
    const fd = openSync(join(absDir, name), 'a');
    const segment = { fd, size: 0, relPath: `${dir}/${name}` };
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
      }
    };
    await walk(this.root);
    return out;
  }

  async *read(segment: string, fromOffset: number): AsyncIterable<{ entry: LakeEntry; end: number }> {
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

  async close(): Promise<void> {
    for (const segment of this.open.values()) closeSync(segment.fd);
    this.open.clear();
  }
}
