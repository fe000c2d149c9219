import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import type { JsonObject, JsonValue } from '../json-path.js';

/** What an enrichment step sees: the unified attributes of one profile and its identities. */
export interface EnrichmentInput {
  attributes: JsonObject;
  identities: ReadonlyArray<{ namespace: string; value: string }>;
  /** Now (ms), for ages. */
  now: number;
  defaultPhoneRegion: string;
}

/** A named step that derives attributes; it returns only what it adds. */
export interface EnrichmentStep {
  name: string;
  description: string;
  run(input: EnrichmentInput): JsonObject;
}

const FREE_MAIL = new Set([
  'gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.co.uk', 'hotmail.com', 'hotmail.co.uk', 'outlook.com', 'live.com',
  'msn.com', 'aol.com', 'icloud.com', 'me.com', 'mac.com', 'gmx.com', 'gmx.de', 'gmx.net', 'web.de', 'mail.com',
  'protonmail.com', 'proton.me', 'yandex.com', 'yandex.ru', 'mail.ru', 'zoho.com', 'qq.com', '163.com', 'bigpond.com',
  'orange.fr', 'free.fr', 'laposte.net', 'libero.it', 't-online.de', 'fastmail.com', 'hey.com',
]);

/** The first leaf whose key (case-insensitive) is one of `names`, searched depth first. */
function findField(obj: JsonObject, names: readonly string[]): JsonValue | undefined {
  for (const [key, value] of Object.entries(obj)) {
    if (names.includes(key.toLowerCase()) && value !== null && typeof value !== 'object') return value;
  }
  for (const value of Object.values(obj)) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      const found = findField(value, names);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

const identityOf = (input: EnrichmentInput, namespace: string): string | undefined => input.identities.find((i) => i.namespace === namespace)?.value;

const EMAIL_FIELDS = ['email', 'emailaddress', 'email_address', 'primaryemail', 'address'];
const PHONE_FIELDS = ['phone', 'phonenumber', 'phone_number', 'mobile', 'mobilephone', 'number'];
const BIRTH_FIELDS = ['birthdate', 'birth_date', 'dateofbirth', 'date_of_birth', 'dob'];
const FIRST_FIELDS = ['firstname', 'first_name', 'given_name', 'givenname'];
const LAST_FIELDS = ['lastname', 'last_name', 'surname', 'familyname', 'family_name'];

export const ENRICHMENT_STEPS: readonly EnrichmentStep[] = [
  {
    name: 'emailDomain',
    description: 'emailDomain and isFreeMail from the email address',
    run(input): JsonObject {
      const email = identityOf(input, 'email') ?? findField(input.attributes, EMAIL_FIELDS);
      if (typeof email !== 'string' || !email.includes('@')) return {};
      const domain = email.slice(email.lastIndexOf('@') + 1).trim().toLowerCase();
      return domain === '' ? {} : { emailDomain: domain, isFreeMail: FREE_MAIL.has(domain) };
    },
  },
  {
    name: 'phoneCountry',
    description: 'phoneCountry (ISO 3166 code) and phoneType (mobile, fixedLine…) from the phone number',
    run(input): JsonObject {
      const raw = identityOf(input, 'phone') ?? findField(input.attributes, PHONE_FIELDS);
      if (raw === undefined || raw === null) return {};
      const parsed = parsePhoneNumberFromString(String(raw), input.defaultPhoneRegion as CountryCode);
      if (!parsed || !parsed.isValid()) return {};
      const type = parsed.getType();
      return { phoneCountry: parsed.country ?? null, phoneType: type ? camel(type) : 'unknown' };
    },
  },
  {
    name: 'ageBand',
    description: 'age and ageBand (18-24, 25-34, …, 65+) from the birth date',
    run(input): JsonObject {
      const raw = findField(input.attributes, BIRTH_FIELDS);
      if (raw === undefined || raw === null) return {};
      const text = String(raw);
      const iso = /^\d{8}$/.test(text) ? `${text.slice(0, 4)}-${text.slice(4, 6)}-${text.slice(6, 8)}` : text;
      const born = Date.parse(iso);
      if (Number.isNaN(born) || born > input.now) return {};
      const age = ageAt(new Date(born), new Date(input.now));
      return { age, ageBand: band(age) };
    },
  },
  {
    name: 'nameCasing',
    description: 'firstName and lastName in name case (mcdonald → McDonald, o\'brien → O\'Brien)',
    run(input): JsonObject {
      const first = findField(input.attributes, FIRST_FIELDS);
      const last = findField(input.attributes, LAST_FIELDS);
      const out: JsonObject = {};
      if (typeof first === 'string' && first.trim() !== '') out.firstName = nameCase(first);
      if (typeof last === 'string' && last.trim() !== '') out.lastName = nameCase(last);
      return out;
    },
  },
];

export const ENRICHMENT_NAMES: readonly string[] = ENRICHMENT_STEPS.map((s) => s.name);

/** Runs the named steps in order; later steps see nothing of earlier ones (they derive from the profile). */
export function enrich(steps: readonly string[], input: EnrichmentInput): JsonObject {
  const out: JsonObject = {};
  for (const name of steps) {
    const step = ENRICHMENT_STEPS.find((s) => s.name === name);
    if (step) Object.assign(out, step.run(input));
  }
  return out;
}

function ageAt(born: Date, now: Date): number {
  let age = now.getUTCFullYear() - born.getUTCFullYear();
  const before = now.getUTCMonth() < born.getUTCMonth() || (now.getUTCMonth() === born.getUTCMonth() && now.getUTCDate() < born.getUTCDate());
  if (before) age--;
  return age;
}

function band(age: number): string {
  if (age < 18) return 'under 18';
  if (age < 25) return '18-24';
  if (age < 35) return '25-34';
  if (age < 45) return '35-44';
  if (age < 55) return '45-54';
  if (age < 65) return '55-64';
  return '65+';
}

const camel = (s: string): string => s.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function nameCase(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/(^|[\s'-])(\p{L})/gu, (_, sep: string, ch: string) => sep + ch.toUpperCase())
    .replace(/\b(Mc|Mac)(\p{Ll})/gu, (_, prefix: string, ch: string) => prefix + ch.toUpperCase());
}
