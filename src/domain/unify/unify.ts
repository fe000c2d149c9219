import { blockingFromRules, forEachBlockedPair, type BlockingStats } from './blocking.js';
import type { UnificationConfig } from './config.js';
import { FellegiSunter, probabilityOf, type FsParameters } from './fellegi-sunter.js';
import { Columns, type MatchRecord } from './match-record.js';
import type { NormalizerContext } from './normalizers.js';
import { RuleMatcher } from './rule-matcher.js';
import { UnionFind } from './union-find.js';

export interface ScoredPairs {
  left: Int32Array;
  right: Int32Array;
  /** Match weight (log2 odds) of each pair. */
  weight: Float64Array;
}

export interface UnifyResult {
  /** The cluster (a representative record index) of each record. */
  clusterOf: Int32Array;
  pairsCompared: number;
  pairsMatched: number;
  identityLinks: number;
  blocking: BlockingStats;
  /** Probabilistic mode: the trained model, and every candidate pair's weight when asked. */
  model?: FsParameters;
  scored?: ScoredPairs;
  /** Probabilistic mode: the model, to explain pairs with. */
  scorer?: FellegiSunter;
}

export interface UnifyOptions {
  /**
   * Namespaces of which a person holds one value (e.g. crmId): records that share an identity are
   * not linked when that would give one person two values of such a namespace, as in streaming.
   */
  uniqueNamespaces?: ReadonlySet<string>;
  /** Keep every scored candidate pair (probabilistic mode; for threshold sweeps). */
  keepScores?: boolean;
  /** Called between stages so a caller can report progress. */
  onStage?: (stage: string) => void;
  seed?: number;
}

export const DEFAULT_MAX_BLOCK_SIZE = 2000;

/**
 * Clusters records into people: records that share an identity, always-match pairs, and pairs
 * that match by rules or by the probabilistic model, transitively; never-match pairs are kept
 * apart. Pure: the caller extracts the records and publishes the result.
 */
export function unify(records: readonly MatchRecord[], config: UnificationConfig, ctx: NormalizerContext, options: UnifyOptions = {}): UnifyResult {
  const n = records.length;
  const links = new ConstrainedUnion(n, neverPairs(records, config));
  const identityLinks = linkSharedIdentities(records, links, options.uniqueNamespaces ?? new Set());
  for (const [a, b] of resolvePairs(records, config, config.alwaysMatch ?? [])) links.union(a, b, true);

  const columns = new Columns(records, ctx);
  const blocking: BlockingStats = { blocksSkipped: 0, recordsInSkippedBlocks: 0 };
  const maxBlockSize = config.maxBlockSize ?? DEFAULT_MAX_BLOCK_SIZE;
  if (config.mode === 'probabilistic') {
    const result = unifyProbabilistic(records, config, columns, links, blocking, maxBlockSize, options);
    return { clusterOf: links.roots(), identityLinks, blocking, ...result };
  }
  const matcher = new RuleMatcher(config, columns);
  const keys = config.blocking?.length ? config.blocking : blockingFromRules(RuleMatcher.allRules(config));
  let pairsCompared = 0;
  let pairsMatched = 0;
  for (const key of keys) {
    options.onStage?.(`blocking on ${key.name ?? key.parts.map((p) => p.field).join('+')}`);
    forEachBlockedPair(columns, n, key, maxBlockSize, blocking, (i, j) => {
      const da = records[i]!.dataset;
      const db = records[j]!.dataset;
      if (!matcher.applies(da, db) || links.same(i, j)) return;
      pairsCompared++;
      if (matcher.matches(i, da, j, db) && links.union(i, j)) pairsMatched++;
    });
  }
  return { clusterOf: links.roots(), pairsCompared, pairsMatched, identityLinks, blocking };
}

function unifyProbabilistic(
  records: readonly MatchRecord[],
  config: UnificationConfig,
  columns: Columns,
  links: ConstrainedUnion,
  blocking: BlockingStats,
  maxBlockSize: number,
  options: UnifyOptions,
): Pick<UnifyResult, 'pairsCompared' | 'pairsMatched' | 'model' | 'scored' | 'scorer'> {
  const settings = config.probabilistic!;
  const n = records.length;
  const keys = config.blocking ?? [];
  const codes = new Map<number, number>();
  const left: number[] = [];
  const right: number[] = [];
  const sessions: number[][] = keys.map(() => []);
  keys.forEach((key, k) => {
    options.onStage?.(`blocking on ${key.name ?? key.parts.map((p) => p.field).join('+')}`);
    forEachBlockedPair(columns, n, key, maxBlockSize, blocking, (i, j) => {
      const code = i * n + j;
      let index = codes.get(code);
      if (index === undefined) {
        index = left.length;
        codes.set(code, index);
        left.push(i);
        right.push(j);
      }
      sessions[k]!.push(index);
    });
  });
  codes.clear();
  const pairs = { left: Int32Array.from(left), right: Int32Array.from(right) };
  const model = new FellegiSunter(settings.comparisons, columns);
  options.onStage?.('comparing candidate pairs');
  const gammas = model.gammas(pairs.left, pairs.right);

  options.onStage?.('estimating u from random pairs');
  model.estimateU(n, settings.uSamplePairs ?? 200_000, seededRandom(options.seed ?? 42));

  options.onStage?.('estimating m by expectation-maximisation');
  const estimates = keys.map((key, k) => {
    const blockedFields = new Set(key.parts.map((p) => p.field));
    const leftOut = new Set(settings.comparisons.flatMap((c, index) => (blockedFields.has(c.field) ? [index] : [])));
    return model.emSession(gammas, sessions[k]!, leftOut, settings.maxIterations ?? 25);
  });
  model.params.m = model.params.m.map((initial, c) => {
    const found = estimates.map((e) => e[c]).filter((row): row is number[] => row !== null);
    return found.length === 0 ? initial : initial.map((_, l) => found.reduce((s, row) => s + row[l]!, 0) / found.length);
  });

  // The prior: expected matches among the candidates over all possible pairs, to a fixed point.
  const allPairs = (n * (n - 1)) / 2;
  const weight = new Float64Array(pairs.left.length);
  model.params.lambda = Math.min(0.5, Math.max(1 / allPairs, pairs.left.length / allPairs / 10));
  for (let round = 0; round < 10; round++) {
    let expected = 0;
    for (let p = 0; p < weight.length; p++) {
      weight[p] = model.matchWeight(pairs.left[p]!, pairs.right[p]!, gammas, p);
      expected += probabilityOf(weight[p]!);
    }
    const next = Math.min(0.5, Math.max(1 / allPairs, expected / allPairs));
    const settled = Math.abs(next - model.params.lambda) / model.params.lambda < 1e-3;
    model.params.lambda = next;
    if (settled) break;
  }
  for (let p = 0; p < weight.length; p++) weight[p] = model.matchWeight(pairs.left[p]!, pairs.right[p]!, gammas, p);

  const threshold = settings.threshold ?? 0.9;
  let pairsMatched = 0;
  for (let p = 0; p < weight.length; p++) {
    if (probabilityOf(weight[p]!) >= threshold && links.union(pairs.left[p]!, pairs.right[p]!)) pairsMatched++;
  }
  return {
    pairsCompared: pairs.left.length,
    pairsMatched,
    model: model.params,
    scorer: model,
    ...(options.keepScores ? { scored: { ...pairs, weight } } : {}),
  };
}

/** Union–find that refuses to join two sets holding a never-match pair (unless forced). */
class ConstrainedUnion {
  private readonly uf: UnionFind;
  private readonly constrained = new Map<number, number[]>();
  constructor(
    n: number,
    private readonly never: ReadonlyMap<number, ReadonlySet<number>>,
  ) {
    this.uf = new UnionFind(n);
    for (const i of never.keys()) this.constrained.set(i, [i]);
  }
  root(a: number): number {
    return this.uf.find(a);
  }
  same(a: number, b: number): boolean {
    return this.uf.find(a) === this.uf.find(b);
  }
  union(a: number, b: number, force = false): boolean {
    const ra = this.uf.find(a);
    const rb = this.uf.find(b);
    if (ra === rb) return false;
    const ca = this.constrained.get(ra);
    const cb = this.constrained.get(rb);
    if (!force && ca && cb && ca.some((x) => [...this.never.get(x)!].some((y) => this.uf.find(y) === rb))) return false;
    this.uf.union(ra, rb);
    const root = this.uf.find(ra);
    if (ca || cb) {
      this.constrained.delete(ra);
      this.constrained.delete(rb);
      this.constrained.set(root, [...(ca ?? []), ...(cb ?? [])]);
    }
    return true;
  }
  roots(): Int32Array {
    const out = new Int32Array(this.uf.parent.length);
    for (let i = 0; i < out.length; i++) out[i] = this.uf.find(i);
    return out;
  }
}

function linkSharedIdentities(records: readonly MatchRecord[], links: ConstrainedUnion, unique: ReadonlySet<string>): number {
  const owner = new Map<string, number>();
  // Per set (by root): its values of unique namespaces, only while linking by identities.
  const held = new Map<number, Map<string, string>>();
  const uniqueOf = (identity: string): [string, string] | null => {
    const sep = identity.indexOf(':');
    return sep > 0 && unique.has(identity.slice(0, sep)) ? [identity.slice(0, sep), identity] : null;
  };
  records.forEach((record, i) => {
    let mine: Map<string, string> | undefined;
    for (const identity of record.identities) {
      const u = uniqueOf(identity);
      if (u) (mine ??= new Map()).set(u[0], u[1]);
    }
    if (mine) held.set(i, mine);
  });
  let joined = 0;
  records.forEach((record, i) => {
    for (const identity of record.identities) {
      const first = owner.get(identity);
      if (first === undefined) {
        owner.set(identity, i);
        continue;
      }
      const ra = links.root(first);
      const rb = links.root(i);
      if (ra === rb) continue;
      const ha = held.get(ra);
      const hb = held.get(rb);
      if (ha && hb && [...hb].some(([ns, v]) => ha.has(ns) && ha.get(ns) !== v)) continue;
      if (!links.union(ra, rb)) continue;
      joined++;
      const root = links.root(ra);
      if (ha || hb) held.set(root, new Map([...(ha ?? []), ...(hb ?? [])]));
    }
  });
  return joined;
}

/** `dataset/recordKey` references → record index pairs (unknown references are skipped). */
function resolvePairs(records: readonly MatchRecord[], config: UnificationConfig, refs: ReadonlyArray<readonly string[]>): Array<[number, number]> {
  if (refs.length === 0) return [];
  const index = new Map<string, number>();
  records.forEach((r, i) => index.set(`${config.datasets[r.dataset]!.dataset}/${r.key}`, i));
  return refs.flatMap((pair) => {
    const ia = index.get(pair[0] ?? '');
    const ib = index.get(pair[1] ?? '');
    return ia === undefined || ib === undefined ? [] : [[ia, ib] as [number, number]];
  });
}

function neverPairs(records: readonly MatchRecord[], config: UnificationConfig): Map<number, Set<number>> {
  const never = new Map<number, Set<number>>();
  for (const [a, b] of resolvePairs(records, config, config.neverMatch ?? [])) {
    if (!never.has(a)) never.set(a, new Set());
    if (!never.has(b)) never.set(b, new Set());
    never.get(a)!.add(b);
    never.get(b)!.add(a);
  }
  return never;
}

/** Deterministic pseudo-random numbers in [0, 1) (mulberry32), so runs repeat. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
