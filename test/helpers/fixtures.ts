import { afterAll, beforeAll } from 'vitest';
import { startTestServer, type Api, type Doc, type TestServer } from './server.js';
import type { Clock } from '../../src/domain/clock.js';

/** A profile schema in XDM's API form with the usual person fields and identity fields. */
export const PERSON_SCHEMA = {
  type: 'object',
  properties: {
    crmId: { type: 'string' },
    person: {
      type: 'object',
      properties: {
        name: { type: 'object', properties: { firstName: { type: 'string' }, lastName: { type: 'string' }, middleName: { type: 'string' }, fullName: { type: 'string' } } },
        birthDayAndMonth: { type: 'string' },
        gender: { type: 'string' },
      },
    },
    personalEmail: { type: 'object', properties: { address: { type: 'string' } } },
    mobilePhone: { type: 'object', properties: { number: { type: 'string' } } },
    homeAddress: { type: 'object', properties: { street1: { type: 'string' }, city: { type: 'string' }, postalCode: { type: 'string' } } },
    loyalty: { type: 'object', properties: { points: { type: 'number' }, tier: { type: 'string' } } },
    timestamp: { type: 'string', format: 'date-time' },
  },
};

export interface Setup {
  schemaId: string;
  crm: string;
  web: string;
  events: string;
}

/** Creates a person schema, an event schema and three datasets (crm, web, events). */
export async function setupPeople(api: Api, instance = 'default'): Promise<Setup> {
  const base = `/api/instances/${instance}/manage`;
  const schema = await api('POST', `${base}/schemas`, {
    body: {
      name: 'Person',
      class: 'profile',
      jsonSchema: PERSON_SCHEMA,
      identities: [
        { path: 'crmId', namespace: 'crmId', primary: true },
        { path: 'personalEmail.address', namespace: 'email', primary: false },
        { path: 'mobilePhone.number', namespace: 'phone', primary: false },
      ],
      fieldGroups: ['homeAddress'],
    },
  });
  if (schema.status !== 201) throw new Error(`schema: ${JSON.stringify(schema.body)}`);
  const events = await api('POST', `${base}/schemas`, {
    body: {
      name: 'Event',
      class: 'activity',
      jsonSchema: { type: 'object', required: ['_id', 'timestamp'], properties: { _id: { type: 'string' }, timestamp: { type: 'string' }, eventType: { type: 'string' } } },
    },
  });
  if (events.status !== 201) throw new Error(`event schema: ${JSON.stringify(events.body)}`);
  const mk = async (name: string, schemaId: string, precedence: number): Promise<string> => {
    const res = await api('POST', `${base}/datasets`, { body: { name, schemaId, precedence } });
    if (res.status !== 201) throw new Error(`dataset: ${JSON.stringify(res.body)}`);
    return String(res.body.id);
  };
  return {
    schemaId: String(schema.body.id),
    crm: await mk('crm', String(schema.body.id), 1),
    web: await mk('web', String(schema.body.id), 2),
    events: await mk('events', String(events.body.id), 10),
  };
}

export const ingestBatch = (api: Api, messages: unknown[], instance = 'default') =>
  api('POST', `/api/instances/${instance}/collection/batch`, { body: { messages } });

export const profileByIdentity = (api: Api, identity: string, instance = 'default') =>
  api('GET', `/api/instances/${instance}/profiles?identity=${encodeURIComponent(identity)}`);

/**
 * Registers a server with the people datasets for the whole test file. With a clock that only
 * moves when told to, rate limits would never refill, so they are lifted.
 */
export function usePeopleServer(clock?: Clock): { ts: TestServer; ds: Setup } {
  const ctx = {} as { ts: TestServer; ds: Setup };
  beforeAll(async () => {
    ctx.ts = await startTestServer(clock ? { clock } : {});
    ctx.ds = await setupPeople(ctx.ts.api);
    if (clock) {
      await ctx.ts.api('PATCH', '/api/instances/default/manage/settings', { body: { rateLimits: { requestsPerSecond: 1e9, messagesPerSecond: 1e9, syncValidationPerMinute: 1e9 } } });
    }
  });
  afterAll(async () => ctx.ts.close());
  return ctx;
}

/**
 * A completed batch once it has ended (no longer `processing`), polled every 50 ms; as it stands
 * after `deadlineMs` if it has not ended by then (the test's assertions then say so).
 */
export async function batchEnd(api: Api, id: string, deadlineMs = 45_000, instance = 'default'): Promise<Doc> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const b = await api('GET', `/api/instances/${instance}/batches/${id}`);
    if (String(b.body.status) !== 'processing' || Date.now() >= until) return b.body;
    await new Promise((r) => setTimeout(r, 50));
  }
}
