/**
 * Generated, realistic ingestion traffic: people with 1-4 identities each; ~30% of them first seen
 * under two separate identities (a cookie, then an email) that a later record links; plus orders and
 * page views. Deterministic for a given seed.
 */
export interface Message {
  datasetId: string;
  record: Record<string, unknown>;
}

const FIRST = ['Ann', 'Bob', 'Chen', 'Dana', 'Eli', 'Fatima', 'Goran', 'Hana', 'Ivan', 'Jo', 'Kemal', 'Lena', 'Mo', 'Nia', 'Omar', 'Pia'];
const LAST = ['Smith', 'Jones', 'Garcia', 'Kowalski', 'Nguyen', 'Okafor', 'Rossi', 'Schmidt', 'Tanaka', 'Varga', 'Walsh', 'Young'];
const CITIES = ['Sydney', 'Leeds', 'Austin', 'Lyon', 'Porto', 'Osaka', 'Graz', 'Cork'];

/** Every person's email, so that readers can pick any person. */
export const emailOf = (p: number): string => `${FIRST[p % FIRST.length]!}.${LAST[(p * 7) % LAST.length]!}.${p}@example.com`.toLowerCase();

import { seededRandom as rng } from '../../src/domain/unify/unify.js';
export { rng };

/**
 * A person's US phone number, valid as real ones are: +1 415, an exchange of 200-899 (a NANP
 * exchange never starts with 0 or 1), four digits; distinct for 7,000,000 people. (Numbers such
 * as +1 415 1xx xxxx, which no real line has, made libphonenumber-js try every NANP country's
 * patterns: about three times a valid number's time.)
 */
export const phoneOf = (p: number): string => {
  const q = p % 7_000_000;
  return `+1415${200 + Math.floor(q / 10_000)}${String(q % 10_000).padStart(4, '0')}`;
};

export interface TrafficOptions {
  people: number;
  profileDataset: string;
  eventDataset: string;
  seed?: number;
  /** Share of people first seen under two unlinked identities. */
  splitShare?: number;
  activitiesPerPerson?: number;
}

/** Yields messages person by person; each person's records stay in order. */
export function* traffic(o: TrafficOptions): Generator<Message> {
  const r = rng(o.seed ?? 42);
  const split = o.splitShare ?? 0.3;
  const acts = o.activitiesPerPerson ?? 0.5;
  const base = Date.UTC(2026, 0, 1);
  const pending: Message[] = [];
  for (let p = 0; p < o.people; p++) {
    const first = FIRST[p % FIRST.length]!;
    const last = LAST[(p * 7) % LAST.length]!;
    const email = emailOf(p);
    const crmId = r() < 0.6 ? `C${p}` : undefined;
    const phone = r() < 0.3 ? phoneOf(p) : undefined;
    const cookie = `ck-${p}-${Math.floor(r() * 1e9).toString(36)}`;
    const attrs = { person: { name: { firstName: first, lastName: last } }, homeAddress: { city: CITIES[p % CITIES.length]! }, loyalty: { points: Math.floor(r() * 1000) } };
    const identityMap: Record<string, Array<{ id: string }>> = { email: [{ id: email }] };
    if (crmId) identityMap['crmId'] = [{ id: crmId }];
    if (phone) identityMap['phone'] = [{ id: phone }];
    if (r() < 0.5) identityMap['cookie'] = [{ id: cookie }];
    if (r() < split) {
      // Seen twice under separate identities; the link arrives later (after other people's records).
      yield { datasetId: o.profileDataset, record: { identityMap: { cookie: [{ id: cookie }] }, loyalty: { points: 1 } } };
      yield { datasetId: o.profileDataset, record: { identityMap: { email: [{ id: email }] }, ...attrs } };
      pending.push({ datasetId: o.profileDataset, record: { identityMap: { ...identityMap, cookie: [{ id: cookie }] }, ...attrs } });
    } else {
      yield { datasetId: o.profileDataset, record: { identityMap, ...attrs } };
    }
    if (r() < acts) {
      const order = r() < 0.3;
      yield {
        datasetId: o.eventDataset,
        record: {
          _id: `ev-${p}`,
          timestamp: new Date(base + p * 1000).toISOString(),
          eventType: order ? 'commerce.purchases' : 'web.webpagedetails.pageViews',
          identityMap: { email: [{ id: email }] },
          ...(order ? { commerce: { order: { priceTotal: Math.round(r() * 20000) / 100, currencyCode: 'USD' } } } : { web: { webPageDetails: { URL: `https://shop.example.com/p/${p % 500}` } } }),
        },
      };
    }
    if (pending.length >= 1000) yield* pending.splice(0);
  }
  yield* pending.splice(0);
}

/** Page views of people the traffic above made known (by their email), in a scattered order: what most of a CDP's stream is once its people are known. */
export function* knownPageViews(o: { people: number; eventDataset: string; count: number; seed?: number }): Generator<Message> {
  const r = rng(o.seed ?? 7);
  const base = Date.UTC(2026, 1, 1);
  for (let i = 0; i < o.count; i++) {
    const p = Math.floor(r() * o.people);
    yield {
      datasetId: o.eventDataset,
      record: { _id: `pv-${i}`, timestamp: new Date(base + i * 1000).toISOString(), eventType: 'web.webpagedetails.pageViews', identityMap: { email: [{ id: emailOf(p) }] }, web: { webPageDetails: { URL: `https://shop.example.com/p/${i % 500}` } } },
    };
  }
}

export const PROFILE_SCHEMA = {
  type: 'object',
  properties: {
    person: { type: 'object', properties: { name: { type: 'object', properties: { firstName: { type: 'string' }, lastName: { type: 'string' } } } } },
    homeAddress: { type: 'object', properties: { city: { type: 'string' } } },
    loyalty: { type: 'object', properties: { points: { type: 'integer' } } },
  },
};

export const EVENT_SCHEMA = {
  type: 'object',
  required: ['_id', 'timestamp'],
  properties: { _id: { type: 'string' }, timestamp: { type: 'string', format: 'date-time' }, eventType: { type: 'string' } },
};
