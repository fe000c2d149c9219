import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProfileTx } from '../src/ports/profile-store.js';
import { PgClient } from '../src/storage/postgres/pg-client.js';
import { SqlProfileWriter } from '../src/storage/sql/profile-writer.js';
import type { SqlClient } from '../src/storage/sql/sql-client.js';
import { freshSchema, postgresForTests } from './helpers/postgres.js';

const withPostgres = await postgresForTests();
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const c of cleanups) await c();
});

/** Holds the first statement of a transaction that starts with `prefix` until released (armed once). */
function holding(db: SqlClient): { client: SqlClient; hold(prefix: string): { reached: Promise<void>; release(): void } } {
  let armed: { prefix: string; reached: () => void; released: Promise<void> } | undefined;
  const wrap = (inner: SqlClient): SqlClient => ({
    all: (sql, params) => inner.all(sql, params),
    get: (sql, params) => inner.get(sql, params),
    run: async (sql, params) => {
      if (armed && sql.startsWith(armed.prefix)) {
        const { reached, released } = armed;
        armed = undefined;
        reached();
        await released;
      }
      return inner.run(sql, params);
    },
    transaction: (fn) => inner.transaction((tx) => fn(wrap(tx))),
  });
  return {
    client: wrap(db),
    hold(prefix) {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const reached = new Promise<void>((resolve) => (armed = { prefix, reached: resolve, released }));
      return { reached, release };
    },
  };
}

const until = async (done: () => boolean): Promise<void> => {
  for (let i = 0; !done(); i++) {
    if (i > 500) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

const email = { namespace: 'email', value: 'ann@example.com', primary: true };
const cookie = { namespace: 'cookie', value: 'c-1', primary: false };
const crm = { namespace: 'crmId', value: 'crm-1', primary: false };

/** A record of one person: joins its identities to the profile that holds the first, or to a new one. */
const applyPerson = (newId: string, identities: Array<typeof email>, seen: Array<string | undefined>) => async (tx: ProfileTx) => {
  const owner = (await tx.identityOwners('acme', identities)).get(`${identities[0]!.namespace}:${identities[0]!.value}`);
  seen.push(owner);
  const target = owner ?? newId;
  if (owner === undefined) await tx.createProfile('acme', target, 1);
  await tx.linkIdentities('acme', target, identities, 1);
};

describe.skipIf(!withPostgres)('one SQL writer’s transactions, pipelined (PostgreSQL)', () => {
  const stored = async (pool: import('pg').Pool): Promise<{ profiles: string[]; identities: string[] }> => ({
    profiles: (await pool.query<{ customer_id: string }>('SELECT customer_id FROM profiles ORDER BY 1')).rows.map((r) => r.customer_id),
    identities: (await pool.query<{ v: string }>("SELECT namespace || ':' || value || ' ' || customer_id AS v FROM identities ORDER BY 1")).rows.map((r) => r.v),
  });

  /**
   * A writer (and another writer on the same schema) whose first transaction — `before`, then a
   * record of ann's email — is held as it writes its identities, and whose second transaction
   * (`second`) has worked through its records meanwhile.
   */
  const pipelined = async (second: (tx: ProfileTx) => Promise<void>, done: () => boolean, before?: (writer: SqlProfileWriter) => Promise<void>) => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    const h = holding(new PgClient(s.pool));
    const writer = new SqlProfileWriter(h.client, { overlap: true });
    const other = new SqlProfileWriter(new PgClient(await s.openAnother(2)));
    await before?.(writer);
    const held = h.hold('INSERT INTO identities');
    const firstSeen: Array<string | undefined> = [];
    const first = writer.transaction(applyPerson('P1', [email], firstSeen));
    await held.reached;
    const next = writer.transaction(second);
    await until(done);
    return { s, writer, other, firstSeen, release: () => held.release(), both: () => Promise.all([first, next]) };
  };

  it('the next transaction works through its records while the one before commits, from what that one wrote', async () => {
    const secondSeen: Array<string | undefined> = [];
    const p = await pipelined(applyPerson('P2', [email, cookie], secondSeen), () => secondSeen.length === 1);
    // The first is writing (its identity not yet stored); the second found that identity's owner meanwhile.
    expect(secondSeen).toEqual(['P1']);
    expect(await stored(p.s.pool)).toEqual({ profiles: [], identities: [] });
    p.release();
    await p.both();
    expect(await stored(p.s.pool)).toEqual({ profiles: ['P1'], identities: ['cookie:c-1 P1', 'email:ann@example.com P1'] });
    expect(p.writer.retried).toBe(0);
  });

  it('when the one before does not commit, the next runs again from what is stored', async () => {
    const secondSeen: Array<string | undefined> = [];
    const p = await pipelined(applyPerson('P2', [email, cookie], secondSeen), () => secondSeen.length === 1);
    // Another writer links the same email first: the first transaction's insert loses the race.
    await p.other.transaction(applyPerson('B', [email], []));
    p.release();
    await p.both();
    expect(p.firstSeen).toEqual([undefined, 'B']);
    expect(secondSeen).toEqual(['P1', 'B']);
    expect(await stored(p.s.pool)).toEqual({ profiles: ['B'], identities: ['cookie:c-1 B', 'email:ann@example.com B'] });
    expect(p.writer.retried).toBe(2);
  });

  it('a profile it read while the one before committed, changed by another writer meanwhile, is read again', async () => {
    const bob = { namespace: 'email', value: 'bob@example.com', primary: true };
    // The second reads Q's identities (one) before the first has committed, and locks nothing yet.
    const sizes: number[] = [];
    const p = await pipelined(
      async (tx) => {
        const owner = (await tx.identityOwners('acme', [bob])).get('email:bob@example.com')!;
        sizes.push(await tx.graphSize('acme', owner));
      },
      () => sizes.length === 1,
      (writer) => writer.transaction(applyPerson('Q', [bob], [])),
    );
    // Meanwhile another writer links a CRM id to Q (it is not kept waiting).
    await p.other.transaction(async (tx) => void (await tx.linkIdentities('acme', 'Q', [crm], 2)));
    p.release();
    await p.both();
    expect(sizes).toEqual([1, 2]);
    expect(p.writer.retried).toBe(1);
  });

  it('lets go of each transaction once it has ended, under steady load as when idle', async () => {
    const s = await freshSchema();
    cleanups.push(() => s.drop());
    const writer = new SqlProfileWriter(new PgClient(s.pool), { overlap: true });
    // Asked for all at once, each transaction starts from what the one before hands over.
    // (Each body is made in a function of its own: a local of this one could keep the last alive.)
    const bodies: Array<WeakRef<object>> = [];
    const start = (i: number): Promise<void> => {
      const body = applyPerson(`P${i}`, [{ namespace: 'email', value: `p${i}@example.com`, primary: true }], []);
      bodies.push(new WeakRef(body));
      return writer.transaction(body);
    };
    await Promise.all(Array.from({ length: 30 }, (_, i) => start(i)));
    expect((await stored(s.pool)).profiles).toHaveLength(30);
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // A weak reference holds its target until the job that made it ends: collect after it.
    await new Promise((r) => setTimeout(r, 10));
    gc();
    await new Promise((r) => setTimeout(r, 10));
    gc();
    // Each transaction's body (with all it closes over) is let go; before, each transaction held
    // the one before it through what it had been handed, and so the writer held them all.
    expect(bodies.flatMap((b, i) => (b.deref() === undefined ? [] : [i]))).toEqual([]);
    expect(writer.retried).toBe(0);
  });
});
