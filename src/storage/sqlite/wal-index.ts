import { endianness } from 'node:os';

/** Bytes of the WAL index (the `-shm` file) that hold its header and checkpoint information. */
export const WAL_INDEX_HEADER_BYTES = 100;

/**
 * The frames the WAL index's first 100 bytes name (https://www.sqlite.org/walformat.html): the
 * last frame committed (`mxFrame`, bytes 16-19) and the last copied back into the database file
 * (`nBackfill`, bytes 96-99), in the machine's byte order.
 */
export function walIndexFrames(header: Buffer): { last: number; copied: number } {
  const u32 = (at: number): number => (endianness() === 'LE' ? header.readUInt32LE(at) : header.readUInt32BE(at));
  return { last: u32(16), copied: u32(96) };
}
