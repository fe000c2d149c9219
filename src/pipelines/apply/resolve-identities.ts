import { identityKey } from '../../domain/identity/extract.js';
import { identitiesToDrop } from '../../domain/identity/guardrail.js';
import { planLinks } from '../../domain/identity/link-plan.js';
import type { ProfileTx } from '../../ports/profile-store.js';
import type { InstanceCatalog } from '../ingest/catalog.js';
import type { PreparedRecord } from '../records.js';

export interface Resolved {
  customerId: string;
  merged: string[];
  warnings: number;
}

/**
 * The identity step: find the profiles the record's identities belong to, merge them when the
 * record joins several (unless a unique namespace forbids it, which is recorded as a warning),
 * link new identities, and keep the graph within its size limit.
 */
export async function resolveIdentities(tx: ProfileTx, catalog: InstanceCatalog, r: PreparedRecord): Promise<Resolved> {
  const now = r.receipt.receivedAt;
  const instanceId = r.instanceId;
  const dataset = catalog.datasetsById.get(r.datasetId)!;
  const owners = await tx.identityOwners(instanceId, r.identities);
  const candidates = new Set(owners.values());
  // A profile's values of unique namespaces matter only when the record joins it to another
  // profile, or brings it a unique-namespace value it does not hold yet (one it holds is no link).
  const needUnique =
    catalog.uniqueNamespaces.size > 0 &&
    candidates.size > 0 &&
    (candidates.size > 1 || r.identities.some((i) => catalog.uniqueNamespaces.has(i.namespace) && !owners.has(identityKey(i))));
  const uniqueValues = new Map<string, Map<string, Set<string>>>();
  if (needUnique) {
    const unique = [...catalog.uniqueNamespaces];
    for (const c of candidates) uniqueValues.set(c, await tx.uniqueValues(instanceId, c, unique));
  }

  const plan = planLinks(r.identities, {
    owners,
    uniqueValues,
    uniqueNamespaces: catalog.uniqueNamespaces,
    linkEnabled: dataset.enabledForIdentity,
  });

  let target = plan.target;
  const created = target === null;
  if (target === null) {
    // Ids and times come from the record (its receipt), so that a rebuild from the lake gives the same ids.
    target = r.recordId;
    await tx.createProfile(instanceId, target, now);
  }
  for (const [i, absorbed] of plan.absorb.entries()) {
    await tx.mergeProfiles(instanceId, { id: `${r.recordId}-m${i}`, survivorId: target, absorbedId: absorbed, datasetId: r.datasetId, recordKey: r.recordKey, at: now });
  }
  let warnings = plan.refused.length;
  for (const [i, refused] of plan.refused.entries()) {
    await tx.recordWarning(instanceId, {
      id: `${r.recordId}-w${i}`,
      kind: 'unique_namespace_conflict',
      namespace: refused.namespace,
      values: refused.values,
      customerIds: refused.customerIds.length > 0 ? refused.customerIds : [target],
      datasetId: r.datasetId,
      recordKey: r.recordKey,
      at: now,
    });
  }
  if (plan.link.length > 0) {
    await tx.linkIdentities(instanceId, target, plan.link, now);
    const max = catalog.settings.maxIdentitiesPerGraph;
    // A new profile holds just what it was given; an existing one is counted.
    if (created ? plan.link.length > max : (await tx.graphSize(instanceId, target)) > max) {
      const graph = await tx.graphIdentities(instanceId, target);
      if (graph.length > max) {
        const drop = identitiesToDrop(graph.map((g) => ({ ...g, priority: catalog.priorityOf(g.namespace) })), max);
        await tx.dropIdentities(instanceId, drop);
        warnings++;
        await tx.recordWarning(instanceId, {
          id: `${r.recordId}-g`,
          kind: 'graph_limit',
          namespace: drop[0]!.namespace,
          values: drop.map(identityKey),
          customerIds: [target],
          datasetId: r.datasetId,
          recordKey: r.recordKey,
          at: now,
        });
      }
    }
  }
  return { customerId: target, merged: plan.absorb, warnings };
}
