import type { Api } from './server.js';

/** Every profile with its fragments, timeline and merges, and the identity warnings. */
export async function snapshot(api: Api): Promise<{ profiles: unknown[]; warnings: unknown }> {
  const ids: string[] = [];
  for (let after = ''; ; ) {
    const page = await api<{ customerIds: string[]; next: string | null }>('GET', `/api/instances/default/profiles?limit=50&after=${after}`);
    ids.push(...page.body.customerIds);
    if (!page.body.next) break;
    after = page.body.next;
  }
  const profiles = [];
  for (const id of ids) {
    profiles.push({
      profile: (await api('GET', `/api/instances/default/profiles/${id}`)).body,
      fragments: (await api('GET', `/api/instances/default/profiles/${id}/fragments`)).body,
      timeline: (await api('GET', `/api/instances/default/profiles/${id}/timeline?limit=1000`)).body,
      merges: (await api('GET', `/api/instances/default/profiles/${id}/merges`)).body,
    });
  }
  return { profiles, warnings: (await api('GET', '/api/instances/default/manage/identity-warnings')).body };
}
