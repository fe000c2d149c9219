import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FsLake } from '../src/storage/lake-fs/fs-lake.js';
import type { LakeLine } from '../src/ports/lake.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const line = (n: number, path: LakeLine['path'] = 'streaming'): LakeLine => ({
  instanceId: 'i',
  datasetId: 'd',
  recordId: `r${n}`,
  receivedAt: Date.UTC(2026, 10, 28),
  path,
  requestId: `q${Math.floor(n / 50)}`,
  caller: null,
  recordJson: JSON.stringify({ n, text: 'é'.repeat(n % 7) }),
});

describe('the lake on disk', () => {
  it.each([
    ['synced off the thread', 'streaming', 2000],
    ["an import's large ones synced on it", 'batch', 2000],
  ] as const)('appends made at once land whole and in call order, each position just past its own line (%s)', async (_, path, syncImportsOnThreadFromBytes) => {
    const root = mkdtempSync(join(tmpdir(), 'tessera-fs-lake-'));
    dirs.push(root);
    const lake = new FsLake(root, { syncImportsOnThreadFromBytes });
    // Calls of 1 to 50 lines: with a threshold of 2,000 bytes some of an import's are synced on the thread, some off it.
    const calls = Array.from({ length: 20 }, (_, c) => Array.from({ length: 1 + ((c * 7) % 50) }, (_, k) => line(c * 50 + k, path)));
    // Not awaited one by one: their syncs overlap.
    const positions = await Promise.all(calls.map((lines) => lake.append(lines)));
    await lake.close();
    const segment = positions[0]![0]!.segment;
    const bytes = readFileSync(join(root, segment));
    const text = bytes.toString('utf8');
    expect(text.trimEnd().split('\n').map((l) => (JSON.parse(l) as { recordId: string }).recordId)).toEqual(calls.flat().map((l) => l.recordId));
    let start = 0;
    for (const [c, lines] of calls.entries()) {
      for (const [k, l] of lines.entries()) {
        const { segment: s, end } = positions[c]![k]!;
        expect(s).toBe(segment);
        const entry = JSON.parse(bytes.subarray(start, end).toString('utf8')) as { recordId: string };
        expect(entry.recordId).toBe(l.recordId);
        start = end;
      }
    }
    expect(start).toBe(bytes.length);
  });
});
