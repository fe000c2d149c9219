import { isObject, type JsonObject, type JsonValue } from '../json-path.js';

/** The JSON Schema of the field at a dotted path, if the schema declares one. */
export function subschemaAt(schema: JsonObject, path: string): JsonObject | undefined {
  let node: JsonObject = schema;
  for (const part of path.split('.')) {
    const props = node['properties'];
    if (!isObject(props) || !isObject(props[part])) return undefined;
    node = props[part];
  }
  return node;
}

export interface FieldDescription {
  name: string;
  type: string;
  required: boolean;
  format?: string;
}

const typeOf = (s: JsonObject): string => {
  const t = s['type'];
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) return t.filter((x) => x !== 'null').join('|') || 'null';
  if (isObject(s['properties'])) return 'object';
  return 'any';
};

/** Every field a schema declares (nested objects flattened to dotted names), with its type. */
export function describeFields(schema: JsonObject, prefix = '', parentRequired = true): FieldDescription[] {
  const out: FieldDescription[] = [];
  const props = schema['properties'];
  if (!isObject(props)) return out;
  const required = new Set(Array.isArray(schema['required']) ? schema['required'].filter((x): x is string => typeof x === 'string') : []);
  for (const [name, sub] of Object.entries(props)) {
    if (!isObject(sub)) continue;
    const full = prefix === '' ? name : `${prefix}.${name}`;
    const req = parentRequired && required.has(name);
    const type = typeOf(sub);
    if (type === 'object' && isObject(sub['properties'])) out.push(...describeFields(sub, full, req));
    else out.push({ name: full, type, required: req, ...(typeof sub['format'] === 'string' ? { format: sub['format'] } : {}) });
  }
  return out;
}

/** A plausible example document for a schema: every declared field with a value of its type. */
export function exampleOf(schema: JsonObject, at = new Date(Date.UTC(2026, 0, 1))): JsonValue {
  const type = typeOf(schema);
  if (schema['examples'] !== undefined && Array.isArray(schema['examples']) && schema['examples'].length > 0) return schema['examples'][0]!;
  if (Array.isArray(schema['enum']) && schema['enum'].length > 0) return schema['enum'][0]!;
  switch (type.split('|')[0]) {
    case 'object': {
      const out: JsonObject = {};
      const props = schema['properties'];
      if (isObject(props)) for (const [k, v] of Object.entries(props)) if (isObject(v)) out[k] = exampleOf(v, at);
      return out;
    }
    case 'array':
      return isObject(schema['items']) ? [exampleOf(schema['items'], at)] : [];
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      if (schema['format'] === 'date-time') return at.toISOString();
      if (schema['format'] === 'date') return at.toISOString().slice(0, 10);
      if (schema['format'] === 'email') return 'someone@example.com';
      if (schema['format'] === 'uri') return 'https://example.com/';
      return 'string';
    default:
      return null;
  }
}
