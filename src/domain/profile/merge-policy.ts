import { flattenLeaves, setFlatPath, type JsonObject, type JsonValue } from '../json-path.js';
import type { MergePolicyName } from '../schema/model.js';

/** A merge rule for one field or field group (a path prefix), from the unification settings. */
export interface FieldMergePolicy {
  path: string;
  /** rank: the best-ranked dataset with a value; mostRecent / leastRecent: by the source's timestamp. */
  policy: 'rank' | 'mostRecent' | 'leastRecent';
}

type Rule = MergePolicyName | 'leastRecent';
const RULE_OF: Readonly<Record<FieldMergePolicy['policy'], Rule>> = { rank: 'datasetPrecedence', mostRecent: 'timestampOrdered', leastRecent: 'leastRecent' };

/** One source's contribution to a profile: the record of one dataset. */
export interface Fragment {
  datasetId: string;
  recordKey: string;
  /** Lower wins under datasetPrecedence. */
  datasetRank: number;
  /** When the source says the record was last changed (ms). */
  timestamp: number;
  attributes: JsonObject;
  fieldGroups: readonly string[];
}

export interface FieldSource {
  datasetId: string;
  recordKey: string;
  timestamp: number;
}

export interface ProfileView {
  attributes: JsonObject;
  /** Where each leaf field (or field group) came from, with its last-updated time. */
  sources: Record<string, FieldSource>;
  /** The newest time any fragment set each field (whoever won the merge). */
  latest: ReadonlyMap<string, number>;
}

const NOT_ATTRIBUTES: ReadonlySet<string> = new Set(['identityMap', '_id']);

/**
 * Merges fragments into one view. `timestampOrdered`: the newest non-null value of each field
 * wins. `datasetPrecedence`: the best-ranked dataset with a non-null value wins. Field groups
 * are taken whole from one fragment. `fieldPolicies` overrides the policy for the fields under a
 * path (the longest matching path counts).
 */
export function mergeFragments(fragments: readonly Fragment[], policy: MergePolicyName, fieldPolicies: readonly FieldMergePolicy[] = []): ProfileView {
  const ruleFor = fieldPolicies.length === 0 ? (): Rule => policy : (path: string): Rule => fieldRule(path, policy, fieldPolicies);
  const best = new Map<string, { value: JsonValue; fragment: Fragment }>();
  const latest = new Map<string, number>();
  for (const fragment of fragments) {
    const atomic = new Set(fragment.fieldGroups);
    for (const [path, value] of flattenLeaves(fragment.attributes, atomic, NOT_ATTRIBUTES)) {
      if (value === null) continue;
      if ((latest.get(path) ?? -Infinity) < fragment.timestamp) latest.set(path, fragment.timestamp);
      const current = best.get(path);
      if (!current || wins(fragment, current.fragment, ruleFor(path))) best.set(path, { value, fragment });
    }
  }
  const attributes: JsonObject = {};
  const sources: Record<string, FieldSource> = {};
  for (const path of [...best.keys()].sort()) {
    const { value, fragment } = best.get(path)!;
    if (hasAncestorIn(path, best)) continue;
    setFlatPath(attributes, path, value);
    sources[path] = { datasetId: fragment.datasetId, recordKey: fragment.recordKey, timestamp: fragment.timestamp };
  }
  return { attributes, sources, latest };
}

function fieldRule(path: string, policy: MergePolicyName, fieldPolicies: readonly FieldMergePolicy[]): Rule {
  let best: FieldMergePolicy | undefined;
  for (const f of fieldPolicies) {
    if ((path === f.path || path.startsWith(`${f.path}.`)) && (!best || f.path.length > best.path.length)) best = f;
  }
  return best ? RULE_OF[best.policy] : policy;
}

function wins(candidate: Fragment, current: Fragment, policy: Rule): boolean {
  if (policy === 'datasetPrecedence' && candidate.datasetRank !== current.datasetRank) {
    return candidate.datasetRank < current.datasetRank;
  }
  if (candidate.timestamp !== current.timestamp) {
    return policy === 'leastRecent' ? candidate.timestamp < current.timestamp : candidate.timestamp > current.timestamp;
  }
  return candidate.datasetId > current.datasetId;
}

/** A field group taken whole by one fragment hides leaves other fragments had under it. */
function hasAncestorIn(path: string, paths: ReadonlyMap<string, unknown>): boolean {
  let i = path.lastIndexOf('.');
  while (i > 0) {
    if (paths.has(path.slice(0, i))) return true;
    i = path.lastIndexOf('.', i - 1);
  }
  return false;
}
