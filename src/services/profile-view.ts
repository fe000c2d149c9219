import { mergeFragments, type ProfileView } from '../domain/profile/merge-policy.js';
import type { MergePolicyName } from '../domain/schema/model.js';
import type { StoredFragment } from '../ports/profile-store.js';
import type { InstanceCatalog } from '../pipelines/ingest/catalog.js';

/** The unified view of a profile, merged from its fragments at read time by a merge policy. */
export function viewOf(catalog: InstanceCatalog, fragments: readonly StoredFragment[], policy: MergePolicyName): ProfileView {
  return mergeFragments(
    fragments.map((f) => catalog.mergeInput(f)),
    policy,
    catalog.fieldMergePolicies,
  );
}
