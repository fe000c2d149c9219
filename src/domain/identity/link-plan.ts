import { identityKey, type Identity } from './extract.js';

/** What the store knows about the profiles a record's identities already belong to. */
export interface LinkContext {
  /** Owner of each record identity that is already in the graph, keyed by `namespace:value`. */
  owners: ReadonlyMap<string, string>;
  /** Values of unique namespaces held by each candidate profile. */
  uniqueValues: ReadonlyMap<string, ReadonlyMap<string, ReadonlySet<string>>>;
  uniqueNamespaces: ReadonlySet<string>;
  /** False for datasets not enabled for identity: no links, no merges. */
  linkEnabled: boolean;
}

export interface RefusedLink {
  namespace: string;
  /** The values that would have ended up together in one profile. */
  values: string[];
  customerIds: string[];
  identity?: Identity;
}

export interface LinkPlan {
  /** The profile the record lands on; null means a new profile must be created. */
  target: string | null;
  /** Profiles merged into the target (the target is the oldest of the merged set). */
  absorb: string[];
  /** Identities not yet in the graph that are bound to the target. */
  link: Identity[];
  refused: RefusedLink[];
}

/**
 * Decides how one record changes the identity graph. Pure: the store gathers the context and
 * carries the plan out in one transaction.
 *
 * The record's primary identity comes first: its profile, or (when it is new) the values it brings,
 * seed the result. Every other profile the record touches is merged in unless that would put two
 * values of a unique namespace in one profile, in which case the link is refused and reported; a
 * new primary identity that conflicts that way gets a profile of its own. Ids are time-ordered, so
 * the smallest id of the merged set is the oldest profile and survives.
 */
export function planLinks(identities: readonly Identity[], ctx: LinkContext): LinkPlan {
  const candidates: string[] = [];
  for (const id of identities) {
    const owner = ctx.owners.get(identityKey(id));
    if (owner !== undefined && !candidates.includes(owner)) candidates.push(owner);
  }
  const refused: RefusedLink[] = [];
  if (!ctx.linkEnabled) {
    const primary = identities[0];
    const owner = primary ? ctx.owners.get(identityKey(primary)) : undefined;
    return { target: owner ?? candidates[0] ?? null, absorb: [], link: owner || !primary || candidates.length > 0 ? [] : [primary], refused };
  }

  const held = new Map<string, Set<string>>();
  const addHeld = (customerId: string): void => {
    for (const [ns, values] of ctx.uniqueValues.get(customerId) ?? []) {
      const set = held.get(ns) ?? new Set<string>();
      for (const v of values) set.add(v);
      held.set(ns, set);
    }
  };
  const conflictWith = (customerId: string): RefusedLink | null => {
    for (const [ns, values] of ctx.uniqueValues.get(customerId) ?? []) {
      const mine = held.get(ns);
      if (!mine || mine.size === 0) continue;
      for (const v of values) {
        if (!mine.has(v)) return { namespace: ns, values: [...mine, ...values].filter((x, i, a) => a.indexOf(x) === i), customerIds: [] };
      }
    }
    return null;
  };

  // The record's primary identity seeds the result: its profile if it has one, else the values it brings.
  const merged: string[] = [];
  const primary = identities[0];
  const primaryOwner = primary ? ctx.owners.get(identityKey(primary)) : undefined;
  if (primaryOwner !== undefined) {
    merged.push(primaryOwner);
    addHeld(primaryOwner);
  } else if (primary && ctx.uniqueNamespaces.has(primary.namespace)) {
    held.set(primary.namespace, new Set([primary.value]));
  }
  for (const candidate of candidates) {
    if (merged.includes(candidate)) continue;
    const conflict = conflictWith(candidate);
    if (conflict) {
      refused.push({ ...conflict, customerIds: merged.length > 0 ? [merged[0]!, candidate] : [candidate] });
      continue;
    }
    merged.push(candidate);
    addHeld(candidate);
  }

  const link: Identity[] = [];
  for (const id of identities) {
    if (ctx.owners.has(identityKey(id))) continue;
    if (ctx.uniqueNamespaces.has(id.namespace)) {
      const mine = held.get(id.namespace);
      if (mine && mine.size > 0 && !mine.has(id.value)) {
        refused.push({ namespace: id.namespace, values: [...mine, id.value], customerIds: merged.slice(0, 1), identity: id });
        continue;
      }
      const set = mine ?? new Set<string>();
      set.add(id.value);
      held.set(id.namespace, set);
    }
    link.push(id);
  }

  if (merged.length === 0) return { target: null, absorb: [], link, refused };
  const sorted = [...merged].sort();
  return { target: sorted[0]!, absorb: sorted.slice(1), link, refused };
}

/** The values a profile holds in each of these namespaces (from its identity rows). */
export function valuesByNamespace(rows: Iterable<{ namespace: string; value: string }>, namespaces: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const wanted = new Set(namespaces);
  for (const row of rows) {
    if (!wanted.has(row.namespace)) continue;
    const set = out.get(row.namespace) ?? new Set<string>();
    set.add(row.value);
    out.set(row.namespace, set);
  }
  return out;
}
