import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { NormalizerName } from './namespaces.js';

export interface NormalizeOptions {
  defaultPhoneRegion: string;
}

/** Normalizes one identity value; returns null when nothing usable is left. */
export function normalizeIdentity(normalizer: NormalizerName, raw: string, options: NormalizeOptions): string | null {
  const trimmed = raw.trim();
  if (trimmed === '') return null;
  switch (normalizer) {
    case 'trim':
      return trimmed;
    case 'lowercase':
    case 'email':
      return trimmed.toLowerCase();
    case 'phone': {
      const parsed = parsePhoneNumberFromString(trimmed, options.defaultPhoneRegion as CountryCode);
      return parsed && parsed.isPossible() ? parsed.number : null;
    }
  }
}

export const DEFAULT_BLOCKED_VALUES: readonly string[] = [
  '',
  'null',
  'undefined',
  'anonymous',
  '0',
  '-1',
  '[object object]',
  'none',
  'n/a',
];

/** Blocked values never link profiles; compared case-insensitively after normalization. */
export class BlockedValues {
  private readonly set: Set<string>;
  constructor(values: readonly string[]) {
    this.set = new Set(values.map((v) => v.trim().toLowerCase()));
  }
  has(value: string): boolean {
    return this.set.has(value.trim().toLowerCase());
  }
}
