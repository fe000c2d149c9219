import { isObject, type JsonObject, type JsonValue } from './json-path.js';

/**
 * XDM documents come in two spellings: the canonical `xdm:`-prefixed form of Adobe's schema
 * repository and the API form without prefixes. Tessera stores and validates the API form.
 */
export function stripXdmPrefixes(value: JsonValue): JsonValue {
  return hasXdmPrefix(value) ? strip(value) : value;
}

/** Whether any key, at any depth, has the prefix (a walk that allocates nothing: most records have none). */
function hasXdmPrefix(value: JsonValue): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) {
    for (const child of value) if (hasXdmPrefix(child)) return true;
    return false;
  }
  for (const key in value) if (key.startsWith('xdm:') || hasXdmPrefix(value[key]!)) return true;
  return false;
}

function strip(value: JsonValue): JsonValue {
  if (Array.isArray(value)) {
    let out: JsonValue[] | undefined;
    value.forEach((child, i) => {
      const stripped = strip(child);
      if (stripped !== child) (out ??= value.slice())[i] = stripped;
    });
    return out ?? value;
  }
  if (!isObject(value)) return value;
  let changed = false;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    const stripped = strip(child);
    const name = key.startsWith('xdm:') ? key.slice(4) : key;
    if (stripped !== child || name !== key) changed = true;
    out[name] = stripped;
  }
  // Nothing to strip: the same object comes back, so that callers can tell and share it.
  return changed ? out : value;
}

export interface IdentityMapEntry {
  namespace: string;
  id: string;
  primary: boolean;
  authenticatedState?: string;
}

/** Reads an XDM `identityMap` (`{namespace: [{id, primary, authenticatedState}]}`). */
export function readIdentityMap(identityMap: JsonValue | undefined): IdentityMapEntry[] {
  if (!isObject(identityMap)) return [];
  const out: IdentityMapEntry[] = [];
  for (const [namespace, items] of Object.entries(identityMap)) {
    if (!Array.isArray(items)) continue;
    for (const item of items) {
      if (!isObject(item)) continue;
      const id = item['id'];
      if (typeof id !== 'string' && typeof id !== 'number') continue;
      const entry: IdentityMapEntry = { namespace, id: String(id), primary: item['primary'] === true };
      const state = item['authenticatedState'];
      if (typeof state === 'string') entry.authenticatedState = state;
      out.push(entry);
    }
  }
  return out;
}
