/**
 * The scale run of bench:unify: `--generate N` person records across three datasets (crm, shop,
 * support) with realistic duplicates and typos, loaded straight into a fresh embedded store (as
 * if streamed: records that share an email already share a profile), then one refresh run through
 * the real pipeline, reporting its stage timings, pairs compared, peak RSS and pairwise quality
 * against the generator's truth.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newId } from '../../src/domain/ids.js';
import { pairwiseQuality } from '../../src/domain/unify/evaluate.js';
import { seededRandom } from '../../src/domain/unify/unify.js';
import type { UnificationConfig } from '../../src/domain/unify/config.js';
import { openTessera } from '../../src/runtime/tessera.js';
import { peakRssMb, report, round } from '../lib/harness.js';

const FIRST = ('james robert john michael william david richard joseph thomas charles christopher daniel matthew anthony mark donald steven paul andrew joshua ' +
  'kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel ' +
  'gregory alexander patrick frank raymond jack dennis jerry tyler aaron jose adam nathan henry peter zachary douglas harold mary patricia jennifer linda ' +
  'elizabeth barbara susan jessica sarah karen lisa nancy betty margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah ' +
  'stephanie rebecca sharon laura cynthia kathleen amy angela shirley anna brenda pamela emma nicole helen samantha katherine christine debra rachel carolyn ' +
  'janet catherine maria heather diane ruth julie olivia joyce virginia victoria kelly lauren christina joan evelyn judith megan andrea cheryl hannah jacqueline').split(' ');
const NICK: Record<string, string> = { robert: 'bob', william: 'bill', richard: 'dick', margaret: 'peggy', elizabeth: 'liz', deborah: 'debby', katherine: 'kate', michael: 'mike', thomas: 'tom', james: 'jim', jennifer: 'jenny', rebecca: 'becky', christopher: 'chris', nicholas: 'nick', alexander: 'alex', samuel: 'sam', benjamin: 'ben', patricia: 'pat', susan: 'sue', victoria: 'vicky' };
const SYL = 'ab ad al an ar as ba be bi bo br ca ce ch co da de di do el en er fa fe fi fo ga ge gi go ha he hi ho ja je jo ka ke ki ko la le li lo ma me mi mo na ne ni no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi wa we wi ya yo za ze zi'.split(' ');
const END = ['son', 'ton', 'ley', 'man', 'er', 'ford', 'well', 'wood', 'berg', 'ski', 'ez', 'ing', 'by', 'ham', 'stein', 'ard', 'ell', 'ett'];
const STREETS = ['High', 'Church', 'Station', 'Mill', 'Park', 'Victoria', 'Green', 'Manor', 'Kings', 'Queens', 'Oak', 'Elm', 'Pine', 'Cedar', 'Maple', 'Hill', 'River', 'Lake', 'Bridge', 'North', 'South', 'West', 'East', 'Market', 'School', 'Forest', 'Meadow', 'Orchard', 'Castle', 'Abbey'];
const TYPES: Array<[string, string]> = [['Street', 'St'], ['Road', 'Rd'], ['Avenue', 'Ave'], ['Lane', 'Ln'], ['Drive', 'Dr'], ['Place', 'Pl'], ['Court', 'Ct'], ['Close', 'Cl']];
const CITIES = ['London', 'Leeds', 'Bristol', 'Manchester', 'Liverpool', 'Sheffield', 'York', 'Bath', 'Oxford', 'Cambridge', 'Norwich', 'Exeter', 'Derby', 'Leicester', 'Cardiff', 'Glasgow', 'Edinburgh', 'Belfast', 'Dundee', 'Aberdeen'];
const DOMAINS = ['gmail.com', 'yahoo.co.uk', 'outlook.com', 'hotmail.com', 'example.org', 'work.example.com', 'mail.example.net'];

interface Person {
  first: string;
  last: string;
  dob: string;
  email: string;
  phone: string;
  street: string;
  type: number;
  city: string;
  postcode: string;
}

export async function runGenerated(count: number, log: (msg: string) => void): Promise<void> {
  const r = seededRandom(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const typo = (s: string): string => {
    if (s.length < 3) return s;
    const i = 1 + Math.floor(r() * (s.length - 1));
    const op = r();
    if (op < 0.3) return s.slice(0, i) + s.slice(i + 1);
    if (op < 0.6) return s.slice(0, i) + String.fromCharCode(97 + Math.floor(r() * 26)) + s.slice(i + 1);
    if (op < 0.8) return s.slice(0, i - 1) + s[i] + s[i - 1] + s.slice(i + 1);
    return s.slice(0, i) + String.fromCharCode(97 + Math.floor(r() * 26)) + s.slice(i);
  };
  const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
  const person = (p: number): Person => {
    const last = pick(SYL) + pick(SYL) + (r() < 0.6 ? pick(SYL) : '') + pick(END);
    const first = pick(FIRST);
    const y = 1940 + Math.floor(r() * 66);
    const dob = `${y}-${String(1 + Math.floor(r() * 12)).padStart(2, '0')}-${String(1 + Math.floor(r() * 28)).padStart(2, '0')}`;
    return {
      first,
      last,
      dob,
      email: `${first}.${last}${p % 97}@${pick(DOMAINS)}`,
      phone: `07${String(700000000 + p).slice(0, 9)}`,
      street: `${1 + Math.floor(r() * 200)} ${pick(STREETS)}`,
      type: Math.floor(r() * TYPES.length),
      city: pick(CITIES),
      postcode: `${pick(['LS', 'M', 'BS', 'S', 'YO', 'OX', 'CB', 'NR', 'EX', 'DE'])}${1 + Math.floor(r() * 30)} ${Math.floor(r() * 10)}${String.fromCharCode(65 + Math.floor(r() * 26))}${String.fromCharCode(65 + Math.floor(r() * 26))}`,
    };
  };
  const variant = (p: Person, seq: number) => {
    let first = p.first;
    const x = r();
    if (x < 0.1 && NICK[first]) first = NICK[first]!;
    else if (x < 0.15) first = typo(first);
    const last = r() < 0.12 ? typo(p.last) : p.last;
    const [long, short] = TYPES[p.type]!;
    return {
      id: `R${seq}`,
      firstName: r() < 0.5 ? cap(first) : first.toUpperCase(),
      lastName: cap(last),
      email: r() < 0.7 ? (r() < 0.2 ? p.email.toUpperCase() : p.email) : undefined,
      phone: r() < 0.25 ? (r() < 0.5 ? p.phone : `+44 ${p.phone.slice(1, 5)} ${p.phone.slice(5)}`) : undefined,
      birthDate: r() < 0.03 ? p.dob.slice(0, 9) + String(Math.floor(r() * 10)) : p.dob,
      street: `${p.street} ${r() < 0.5 ? long : short}`,
      city: p.city,
      postcode: r() < 0.05 ? p.postcode.replace(' ', '') : p.postcode,
    };
  };

  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-unify-'));
  const datasets = ['crm', 'shop', 'support'];
  const namespaces = ['crmId', 'shopId', 'ticketId'];
  const ids: Record<string, string> = {};
  try {
    let t = await openTessera({ dataDir });
    await t.instances.create('default', 'Default');
    for (const ns of namespaces.slice(1)) await t.admin.upsertNamespace('default', { code: ns, unique: true });
    const props = Object.fromEntries(['id', 'firstName', 'lastName', 'email', 'phone', 'birthDate', 'street', 'city', 'postcode'].map((f) => [f, { type: 'string' }]));
    for (const [k, name] of datasets.entries()) {
      const schema = await t.admin.createSchema('default', {
        name: `${name}-person`,
        class: 'profile',
        jsonSchema: { type: 'object', properties: props },
        identities: [
          { path: 'id', namespace: namespaces[k]!, primary: true },
          { path: 'email', namespace: 'email', primary: false },
          { path: 'phone', namespace: 'phone', primary: false },
        ],
      });
      ids[name] = (await t.admin.createDataset('default', { name, schemaId: schema.id, precedence: k + 1 })).id;
    }
    const rules = [
      { name: 'names and birth date', conditions: [{ field: 'firstName', normalizers: ['case', 'nameAlias'], precision: 'custom', threshold: 0.9 }, { field: 'lastName', normalizers: ['case'], precision: 'custom', threshold: 0.9 }, { field: 'birthDate' }] },
      { name: 'surname, birth date and postcode', conditions: [{ field: 'lastName', normalizers: ['case'] }, { field: 'birthDate' }, { field: 'postcode', normalizers: ['case', 'symbols', 'whitespace'] }] },
      { name: 'names and address', conditions: [{ field: 'firstName', normalizers: ['case', 'nameAlias'] }, { field: 'lastName', normalizers: ['case'], precision: 'custom', threshold: 0.9 }, { field: 'street', normalizers: ['case', 'address'] }, { field: 'postcode', normalizers: ['case', 'symbols', 'whitespace'] }] },
    ];
    const config = {
      mode: 'rules',
      datasets: datasets.map((dataset) => ({ dataset, dedupRules: rules, winner: 'mostRecent' })),
      pairs: [['crm', 'shop'], ['crm', 'support'], ['shop', 'support']].map((pair) => ({ datasets: pair, rules })),
      blocking: [
        { name: 'birth date + surname sound', parts: [{ field: 'birthDate' }, { field: 'lastName', transform: 'soundex' }] },
        { name: 'postcode + street', parts: [{ field: 'postcode', normalizers: ['case', 'symbols', 'whitespace'] }, { field: 'street', normalizers: ['case', 'address'] }] },
      ],
      enrichment: ['emailDomain', 'ageBand'],
    } as UnificationConfig;
    await t.refresh.putConfig('default', config);
    await t.close();

    // Load: one fragment per record; a profile per email (as streaming would have linked them).
    let started = performance.now();
    const db = new Database(join(dataDir, 'state.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = OFF');
    const addFragment = db.prepare('INSERT INTO fragments (instance_id, dataset_id, record_key, customer_id, ts, received_at, hash, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const addProfile = db.prepare('INSERT OR IGNORE INTO profiles (instance_id, customer_id, created_at, updated_at) VALUES (?, ?, ?, ?)');
    const addIdentity = db.prepare('INSERT OR IGNORE INTO identities (instance_id, namespace, value, customer_id, first_seen) VALUES (?, ?, ?, ?, ?)');
    // The person behind each record, by its sequence number (record ids are R<seq>).
    const personOf = new Int32Array(count);
    const byEmail = new Map<string, string>();
    const now = Date.now();
    let seq = 0;
    let p = 0;
    const load = db.transaction((until: number) => {
      while (seq < until) {
        const who = person(p);
        const copies = Math.min(until - seq, (x => (x < 0.5 ? 1 : x < 0.85 ? 2 : x < 0.97 ? 3 : 4))(r()));
        for (let c = 0; c < copies; c++) {
          const k = Math.floor(r() * 3);
          const rec = variant(who, seq);
          const json = JSON.stringify(rec);
          const email = rec.email?.toLowerCase();
          let customer = email ? byEmail.get(email) : undefined;
          if (!customer) {
            customer = newId();
            addProfile.run('default', customer, now, now);
            if (email) byEmail.set(email, customer);
          }
          const key = `${namespaces[k]}:${rec.id}`;
          addFragment.run('default', ids[datasets[k]!]!, key, customer, now - Math.floor(r() * 1e10), now, createHash('sha1').update(json).digest('base64url'), json);
          addIdentity.run('default', namespaces[k], rec.id, customer, now);
          if (email) addIdentity.run('default', 'email', email, customer, now);
          personOf[seq] = p;
          seq++;
        }
        p++;
      }
    });
    for (let at = 0; at < count; at += 50_000) load(Math.min(count, at + 50_000));
    db.close();
    log(`loaded ${count} records of ${p} people in ${((performance.now() - started) / 1000).toFixed(1)} s`);

    t = await openTessera({ dataDir });
    started = performance.now();
    const { done } = await t.refresh.trigger('default', 'manual');
    const run = await done;
    const seconds = (performance.now() - started) / 1000;
    if (run.status !== 'success') throw new Error(`refresh failed: ${run.message}`);
    log(`refresh: ${seconds.toFixed(1)} s — ${run.stages.map((s) => `${s.name} ${(s.ms / 1000).toFixed(1)} s`).join(', ')}; ${JSON.stringify(run.counts)}`);
    const rss = peakRssMb(process.pid);
    await t.close();

    const check = new Database(join(dataDir, 'state.db'), { readonly: true });
    const clusterOf = new Array<number>(count);
    const clusterIds = new Map<string, number>();
    for (const row of check.prepare('SELECT record_key, customer_id FROM fragments').iterate() as IterableIterator<{ record_key: string; customer_id: string }>) {
      const i = Number(row.record_key.slice(row.record_key.indexOf(':R') + 2));
      let c = clusterIds.get(row.customer_id);
      if (c === undefined) clusterIds.set(row.customer_id, (c = clusterIds.size));
      clusterOf[i] = c;
    }
    check.close();
    const q = pairwiseQuality(clusterOf, Array.from(personOf, String));
    log(`quality against the generator's truth: P ${q.precision.toFixed(4)} R ${q.recall.toFixed(4)} F1 ${q.f1.toFixed(4)}`);
    const stage = (name: string): number => run.stages.find((s) => s.name === name)?.ms ?? NaN;
    report(
      'unify-generated',
      {
        records: count,
        people: p,
        refresh_time_ms: Math.round(seconds * 1000),
        extract_ms: stage('extract'),
        unify_ms: stage('unify'),
        enrich_ms: stage('enrich'),
        publish_ms: stage('publish'),
        pairs_compared_count: run.counts.pairsCompared ?? 0,
        clusters_count: run.counts.clusters ?? 0,
        precision_ratio: round(q.precision, 4),
        recall_ratio: round(q.recall, 4),
        f1_ratio: round(q.f1, 4),
        peak_rss_mb: rss,
      },
      { goal_time_ms: 120_000, goal_peak_rss_mb: 4096 },
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
