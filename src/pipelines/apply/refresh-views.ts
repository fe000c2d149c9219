import { mergeFragments, type Fragment } from '../../domain/profile/merge-policy.js';
import type { ProfileTx } from '../../ports/profile-store.js';
import type { InstanceCatalog } from '../ingest/catalog.js';

/** Recomputes the stored profile view of each touched profile from its fragments. */
export async function refreshViews(tx: ProfileTx, catalog: InstanceCatalog, customerIds: Iterable<string>, now: number): Promise<void> {
  for (const customerId of customerIds) {
    const stored = await tx.fragmentsOf(catalog.instance.id, customerId);
    const fragments: Fragment[] = stored.map((f) => {
      const dataset = catalog.datasetsById.get(f.datasetId);
      const schema = dataset ? catalog.schemasById.get(dataset.schemaId) : undefined;
      return {
        datasetId: f.datasetId,
        recordKey: f.recordKey,
        datasetRank: dataset?.precedence ?? Number.MAX_SAFE_INTEGER,
        timestamp: f.timestamp,
        attributes: f.record,
        fieldGroups: schema?.fieldGroups ?? [],
      };
    });
    await tx.saveView(catalog.instance.id, customerId, mergeFragments(fragments, catalog.settings.mergePolicy), now);
  }
}
