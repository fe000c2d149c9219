import { getPath, type JsonObject } from '../json-path.js';
import { readIdentityMap } from '../xdm.js';
import type { SchemaDef } from '../schema/model.js';
import type { NamespaceIndex } from './namespaces.js';
import { normalizeIdentity, type BlockedValues, type NormalizeOptions } from './normalize.js';

export interface Identity {
  namespace: string;
  value: string;
  primary: boolean;
}

export interface IdentityProblem {
  path: string;
  message: string;
}

export interface ExtractedIdentities {
  identities: Identity[];
  problems: IdentityProblem[];
}

/**
 * Collects a record's identities from the schema's identity fields and its `identityMap`,
 * normalized per namespace, blocked values removed, duplicates folded, primary first.
 */
export function extractIdentities(
  record: JsonObject,
  schema: SchemaDef,
  namespaces: NamespaceIndex,
  blocked: BlockedValues,
  options: NormalizeOptions,
): ExtractedIdentities {
  const problems: IdentityProblem[] = [];
  const found: Identity[] = [];
  const add = (nsCode: string, raw: unknown, primary: boolean, path: string): void => {
    if (typeof raw !== 'string' && typeof raw !== 'number') return;
    const ns = namespaces.find(nsCode);
    if (!ns) {
      problems.push({ path, message: `identity namespace "${nsCode}" is not defined; create it under manage/namespaces` });
      return;
    }
    const text = String(raw);
    if (blocked.has(text)) return;
    const value = normalizeIdentity(ns.normalizer, text, options);
    if (value === null || blocked.has(value)) return;
    found.push({ namespace: ns.code, value, primary });
  };
  for (const d of schema.identities) add(d.namespace, getPath(record, d.path), d.primary, `/${d.path.replaceAll('.', '/')}`);
  for (const entry of readIdentityMap(record['identityMap'])) {
    add(entry.namespace, entry.id, entry.primary, `/identityMap/${entry.namespace}`);
  }
  const seen = new Map<string, Identity>();
  for (const id of found) {
    const key = `${id.namespace}\u0000${id.value}`;
    const prior = seen.get(key);
    if (prior) prior.primary = prior.primary || id.primary;
    else seen.set(key, { ...id });
  }
  const identities = [...seen.values()];
  if (identities.length > 0 && !identities.some((i) => i.primary)) {
    let best = 0;
    for (let i = 1; i < identities.length; i++) {
      if (namespaces.get(identities[i]!.namespace).priority < namespaces.get(identities[best]!.namespace).priority) best = i;
    }
    identities[best]!.primary = true;
  }
  identities.sort((a, b) => Number(b.primary) - Number(a.primary));
  return { identities, problems };
}

export const identityKey = (id: { namespace: string; value: string }): string => `${id.namespace}:${id.value}`;
