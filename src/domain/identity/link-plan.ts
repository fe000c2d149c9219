import type { Identity } from './extract.js';

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

const key = (i: Identity): string => `${i.namespace}:${i.value}`;

/**
 * Decides how one record changes the identity graph. Pure: the store gathers the context and
 * carries the plan out in one transaction.
 *
 * The record's identities are taken primary first. The profile of the first bound identity is the
 * anchor; every other profile the record touches is merged with it unless that would put two values
 * of a unique namespace in one profile, in which case the link is refused and reported. Ids are
 * time-ordered, so the smallest id of the merged set is the oldest profile and survives.
 */
export function planLinks(identities: readonly Identity[], ctx: LinkContext): LinkPlan {
  const candidates: string[] = [];
  for (const id of identities) {
    const owner = ctx.owners.get(key(id));
    if (owner !== undefined && !candidates.includes(owner)) candidates.push(owner);
  }
  const refused: RefusedLink[] = [];
  if (!ctx.linkEnabled) {
    const primary = identities[0];
    const owner = primary ? ctx.owners.get(key(primary)) : undefined;
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

  const merged: string[] = [];
  for (const candidate of candidates) {
    if (merged.length === 0) {
      merged.push(candidate);
      addHeld(candidate);
      continue;
    }
    const conflict = conflictWith(candidate);
    if (conflict) {
      refused.push({ ...conflict, customerIds: [merged[0]!, candidate] });
      continue;
    }
    merged.push(candidate);
    addHeld(candidate);
  }

  const link: Identity[] = [];
  for (const id of identities) {
    if (ctx.owners.has(key(id))) continue;
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
