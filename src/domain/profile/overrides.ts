import { setFlatPath, type JsonObject, type JsonValue } from '../json-path.js';
import type { FieldSource, ProfileView } from './merge-policy.js';

/** A field value set through the real-time API: it wins until it expires or a source catches up. */
export interface Override {
  path: string;
  value: JsonValue;
  setAt: number;
  validUntil: number;
  caller: string | null;
}

export type ViewSource = ({ kind: 'dataset' } & FieldSource) | { kind: 'realtime'; setAt: number; validUntil: number; caller: string | null };

export interface ViewWithOverrides {
  attributes: JsonObject;
  sources: Record<string, ViewSource>;
}

export const DEFAULT_OVERRIDE_TTL_MS = 4 * 60 * 60 * 1000;
export const DEFAULT_ACTIVITY_TTL_MS = 30 * 24 * 60 * 60 * 1000;
export const MAX_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** Whether an override still shows: not expired (exact to the millisecond) and not overtaken. */
export function overrideIsLive(o: Override, latest: ReadonlyMap<string, number>, now: number): boolean {
  if (now >= o.validUntil) return false;
  // A source record that set the field (or the group holding it) after the override ends it.
  for (let path = o.path; ; ) {
    if ((latest.get(path) ?? -Infinity) > o.setAt) return false;
    const dot = path.lastIndexOf('.');
    if (dot < 0) return true;
    path = path.slice(0, dot);
  }
}

/** Puts the live overrides on top of a merged view. Pure: `now` decides expiry. */
export function applyOverrides(view: ProfileView, overrides: readonly Override[], now: number): ViewWithOverrides {
  const attributes = structuredClone(view.attributes);
  const sources: Record<string, ViewSource> = {};
  for (const [path, s] of Object.entries(view.sources)) sources[path] = { kind: 'dataset', ...s };
  for (const o of overrides) {
    if (!overrideIsLive(o, view.latest, now)) continue;
    setFlatPath(attributes, o.path, o.value);
    sources[o.path] = { kind: 'realtime', setAt: o.setAt, validUntil: o.validUntil, caller: o.caller };
  }
  return { attributes, sources };
}

/**
 * Checks a requested expiry: absent → now + the default; in the past, or more than 30 days
 * ahead → an error message; else the time itself.
 */
export function resolveValidUntil(requested: number | undefined, now: number, defaultTtl: number): { ok: true; validUntil: number } | { ok: false; message: string } {
  if (requested === undefined) return { ok: true, validUntil: now + defaultTtl };
  if (requested <= now) return { ok: false, message: 'validUntil is in the past' };
  if (requested > now + MAX_TTL_MS) return { ok: false, message: 'validUntil is more than 30 days ahead' };
  return { ok: true, validUntil: requested };
}
