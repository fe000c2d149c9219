import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { createInterface } from 'node:readline';
import type { Lake, LakeEntry, LakePosition } from '../../ports/lake.js';

const SEGMENT_MAX_BYTES = 64 * 1024 * 1024;

interface OpenSegment {
  handle: FileHandle;
  size: number;
  relPath: string;
}

/**
 * The lake on a local directory: NDJSON segments under
 * `<root>/<instance>/<dataset>/date=YYYY-MM-DD/part-<start>-<n>.ndjson`, one entry a line.
 * `append` writes every entry of a call and fdatasyncs the touched segments before it returns.
 */
export class FsLake implements Lake {
  private readonly open = new Map<string, OpenSegment>();
  private readonly started = Date.now();
  private counter = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly root: string) {}

  append(entries: readonly LakeEntry[]): Promise<LakePosition[]> {
    const run = (): Promise<LakePosition[]> => this.appendNow(entries);
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async appendNow(entries: readonly LakeEntry[]): Promise<LakePosition[]> {
    const groups = new Map<string, { lines: string[]; indexes: number[]; bytes: number[] }>();
    entries.forEach((entry, index) => {
      const dir = `${entry.instanceId}/${entry.datasetId}/date=${new Date(entry.receivedAt).toISOString().slice(0, 10)}`;
      const group = groups.get(dir) ?? { lines: [], indexes: [], bytes: [] };
      const line = JSON.stringify(entry) + '\n';
      group.lines.push(line);
      group.indexes.push(index);
      group.bytes.push(Buffer.byteLength(line));
      groups.set(dir, group);
    });
    const positions: LakePosition[] = new Array<LakePosition>(entries.length);
    await Promise.all(
      [...groups].map(async ([dir, group]) => {
        const segment = await this.segmentFor(dir);
        const start = segment.size;
        await segment.handle.write(group.lines.join(''), start);
        await segment.handle.datasync();
        let end = start;
        group.indexes.forEach((entryIndex, i) => {
          end += group.bytes[i]!;
          positions[entryIndex] = { segment: segment.relPath, end };
        });
        segment.size = end;
        if (segment.size >= SEGMENT_MAX_BYTES) {
          this.open.delete(dir);
          await segment.handle.close();
        }
      }),
    );
    return positions;
  }

  private async segmentFor(dir: string): Promise<OpenSegment> {
    const current = this.open.get(dir);
    if (current) return current;
    const absDir = join(this.root, dir);
    await mkdir(absDir, { recursive: true });
    const name = `part-${this.started}-${String(++this.counter).padStart(6, '0')}.ndjson`;
    const handle = await open(join(absDir, name), 'a');
    const segment = { handle, size: 0, relPath: `${dir}/${name}` };
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
    await this.chain;
    for (const segment of this.open.values()) await segment.handle.close();
    this.open.clear();
  }
}
