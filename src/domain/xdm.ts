import { isObject, type JsonObject, type JsonValue } from './json-path.js';

/**
 * XDM documents come in two spellings: the canonical `xdm:`-prefixed form of Adobe's schema
 * repository and the API form without prefixes. Tessera stores and validates the API form.
 */
export function stripXdmPrefixes(value: JsonValue): JsonValue {
  if (Array.isArray(value)) return value.map(stripXdmPrefixes);
  if (!isObject(value)) return value;
  let needsCopy = false;
  for (const key of Object.keys(value)) {
    if (key.startsWith('xdm:')) {
      needsCopy = true;
      break;
    }
  }
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) {
    const stripped = stripXdmPrefixes(child);
    out[needsCopy && key.startsWith('xdm:') ? key.slice(4) : key] = stripped;
  }
  return out;
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
