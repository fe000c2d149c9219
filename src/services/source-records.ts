import type { Clock } from '../domain/clock.js';
import { notFound } from '../domain/errors.js';
import { newId } from '../domain/ids.js';
import type { Committer } from '../pipelines/apply/committer.js';
import type { Catalog } from '../pipelines/ingest/catalog.js';
import { deleteRecord } from '../pipelines/records.js';
import type { ProfileService } from './profiles.js';

/**
 * Source records of a dataset. Deleting one removes its fragment from the profile now; the
 * deletion goes through the lake like any change (replay and rebuild repeat it), and the next
 * refresh re-clusters without it.
 */
export class SourceRecordService {
  constructor(private readonly deps: { catalog: Catalog; profiles: ProfileService; committer: Committer; clock: Clock }) {}

  async delete(instanceId: string, datasetIdOrName: string, key: string, caller: string | null): Promise<{ customerId: string; recordKey: string }> {
    const catalog = await this.deps.catalog.get(instanceId);
    if (!catalog) throw notFound('instance_not_found', `instance ${instanceId} does not exist`);
    const dataset = catalog.dataset(datasetIdOrName);
    if (!dataset) throw notFound('dataset_not_found', `dataset ${datasetIdOrName} does not exist`);
    const found = await this.deps.profiles.findRecord(catalog, dataset, key);
    if (!found) throw notFound('record_not_found', `no record ${key} in dataset ${dataset.name}`);
    const receipt = { requestId: newId(), receivedAt: this.deps.clock.now(), path: 'streaming' as const, caller };
    const [outcome] = await this.deps.committer.submit({
      instanceId,
      records: [deleteRecord({ instanceId, datasetId: dataset.id, recordId: newId(), recordKey: found.recordKey, receipt })],
      failed: [],
    });
    if (outcome?.status !== 'applied') throw notFound('record_not_found', `no record ${key} in dataset ${dataset.name}`);
    return found;
  }
}
