import anyAscii from 'any-ascii';
import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { NAME_ALIASES } from './name-aliases.js';

/** The normalizers a match condition can apply, in the order they are listed. */
export const NORMALIZER_NAMES = [
  'whitespace',
  'case',
  'symbols',
  'unicode',
  'numerals',
  'phone',
  'nameAlias',
  'address',
  'organization',
] as const;
export type NormalizerName = (typeof NORMALIZER_NAMES)[number];

export interface NormalizerContext {
  defaultPhoneRegion: string;
  /** Extra diminutive → formal name pairs of the instance (lower case). */
  nameAliases?: ReadonlyMap<string, string>;
}

/** Street types and directions, long form → the abbreviation postal services use. */
const ADDRESS_WORDS: Readonly<Record<string, string>> = {
  street: 'st', str: 'st', road: 'rd', avenue: 'ave', av: 'ave', place: 'pl', drive: 'dr', lane: 'ln',
  court: 'ct', crescent: 'cres', cresent: 'cres', boulevard: 'blvd', circuit: 'cct', close: 'cl',
  parade: 'pde', terrace: 'tce', highway: 'hwy', square: 'sq', grove: 'gr', mount: 'mt',
  apartment: 'apt', suite: 'ste', unit: 'u', floor: 'fl', building: 'bldg', village: 'vlg',
  retirement: 'retrmnt', north: 'n', south: 's', east: 'e', west: 'w', parkway: 'pkwy', way: 'wy',
  circle: 'cir', point: 'pt', heights: 'hts', gardens: 'gdns', esplanade: 'esp',
};

/** Words that do not tell organisations apart. */
const ORGANIZATION_NOISE: ReadonlySet<string> = new Set([
  'the', 'inc', 'incorporated', 'corp', 'corporation', 'co', 'company', 'ltd', 'limited', 'llc', 'llp',
  'plc', 'gmbh', 'ag', 'sa', 'sas', 'sarl', 'bv', 'nv', 'pty', 'pte', 'srl', 'spa', 'oy', 'ab', 'as',
  'kk', 'group', 'holdings', 'and', '&',
]);

const SPACES = /\s+/g;
const SYMBOLS = /[^\p{L}\p{N}\s]/gu;
const DIGIT = /\p{Nd}/u;

/**
 * Applies the normalizers to one value, in order. Returns null when nothing is left (an empty
 * value never matches anything).
 */
export function normalizeValue(raw: string, normalizers: readonly NormalizerName[], ctx: NormalizerContext): string | null {
  let value = raw;
  for (const name of normalizers) {
    value = applyOne(name, value, ctx);
    if (value === '') return null;
  }
  value = value.trim();
  return value === '' ? null : value;
}

function applyOne(name: NormalizerName, value: string, ctx: NormalizerContext): string {
  switch (name) {
    case 'whitespace':
      return value.replace(SPACES, ' ').trim();
    case 'case':
      return value.toLowerCase();
    case 'symbols':
      return value.replace(SYMBOLS, ' ').replace(SPACES, ' ').trim();
    case 'unicode':
      return anyAscii(value);
    case 'numerals':
      return toAsciiDigits(value.normalize('NFKC'));
    case 'phone': {
      const parsed = parsePhoneNumberFromString(value, ctx.defaultPhoneRegion as CountryCode);
      return parsed && parsed.isPossible() ? parsed.number : '';
    }
    case 'nameAlias':
      return mapWords(value, (w) => ctx.nameAliases?.get(w) ?? NAME_ALIASES.get(w) ?? w);
    case 'address':
      return mapWords(value, (w) => ADDRESS_WORDS[w] ?? w);
    case 'organization':
      return value
        .split(' ')
        .filter((w) => !ORGANIZATION_NOISE.has(w.toLowerCase().replace(/\.$/, '')))
        .join(' ');
  }
}

function mapWords(value: string, map: (lowerWord: string) => string): string {
  return value
    .split(' ')
    .map((w) => (w === '' ? w : map(w.toLowerCase())))
    .join(' ');
}

/** Digits of any script (Arabic-Indic, Devanagari, full-width…) → 0-9. */
function toAsciiDigits(value: string): string {
  let out = '';
  for (const ch of value) {
    if (ch >= '0' && ch <= '9') out += ch;
    else if (DIGIT.test(ch)) out += String(digitValue(ch.codePointAt(0)!));
    else out += ch;
  }
  return out;
}

/** Unicode decimal digits come in runs of ten starting at zero. */
function digitValue(codePoint: number): number {
  let k = 0;
  while (k < 9 && DIGIT.test(String.fromCodePoint(codePoint - k - 1))) k++;
  return k;
}
