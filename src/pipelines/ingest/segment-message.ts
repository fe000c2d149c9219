import { isObject, type JsonObject, type JsonValue } from '../../domain/json-path.js';

/** The Segment spec's call types, long and short (the browser SDK's) forms. */
export type SegmentType = 'identify' | 'track' | 'page' | 'screen' | 'group' | 'alias';
export const SHORT_FORMS: Readonly<Record<string, SegmentType>> = { i: 'identify', t: 'track', p: 'page', s: 'screen', g: 'group', a: 'alias' };
export const SEGMENT_TYPES: readonly SegmentType[] = ['identify', 'track', 'page', 'screen', 'group', 'alias'];

export interface Converted {
  kind: 'profile' | 'activity';
  record: JsonObject;
}

/** A non-empty string or a number as text; undefined otherwise. */
export const str = (v: JsonValue | undefined): string | undefined => (typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined);

/**
 * Segment corrects the client's clock: timestamp = receivedAt − (sentAt − timestamp). Without
 * sentAt the timestamp stands (or receipt time when there is none).
 */
export function correctedTimestamp(msg: JsonObject, receivedAt: number): string {
  const ts = Date.parse(String(msg['timestamp'] ?? msg['originalTimestamp'] ?? ''));
  const sent = Date.parse(String(msg['sentAt'] ?? ''));
  if (Number.isNaN(ts)) return new Date(receivedAt).toISOString();
  if (Number.isNaN(sent)) return new Date(ts).toISOString();
  return new Date(receivedAt - (sent - ts)).toISOString();
}

/** Identities a message carries: userId, anonymousId, traits email and phone, device ids. */
export function identityMapOf(msg: JsonObject): JsonObject {
  const map: Record<string, Array<{ id: string }>> = {};
  const add = (ns: string, v: JsonValue | undefined): void => {
    const s = str(v);
    if (s !== undefined) (map[ns] ??= []).push({ id: s });
  };
  add('userId', msg['userId']);
  add('anonymousId', msg['anonymousId']);
  const traits = isObject(msg['traits']) ? msg['traits'] : isObject(msg['context']) && isObject(msg['context']['traits']) ? msg['context']['traits'] : undefined;
  if (traits) {
    add('email', traits['email']);
    add('phone', traits['phone']);
  }
  const device = isObject(msg['context']) && isObject(msg['context']['device']) ? msg['context']['device'] : undefined;
  if (device) {
    add('deviceId', device['id']);
    add('deviceId', device['advertisingId']);
  }
  return map as unknown as JsonObject;
}

/** One Segment call as a Tessera record: identify and alias become profile records, the rest activities. */
export function convertSegment(type: SegmentType, msg: JsonObject, receivedAt: number): Converted {
  const identityMap = identityMapOf(msg);
  const timestamp = correctedTimestamp(msg, receivedAt);
  if (type === 'identify') {
    return { kind: 'profile', record: { ...(isObject(msg['traits']) ? { traits: msg['traits'] } : {}), identityMap, timestamp } };
  }
  if (type === 'alias') {
    const previous = str(msg['previousId']);
    const map = identityMap as unknown as Record<string, Array<{ id: string }>>;
    // previousId may have been an anonymous id or an earlier user id: it is linked as both.
    if (previous !== undefined) {
      (map['userId'] ??= []).push({ id: previous });
      (map['anonymousId'] ??= []).push({ id: previous });
    }
    return { kind: 'profile', record: { identityMap: map as unknown as JsonObject, timestamp } };
  }
  const record: JsonObject = {
    messageId: str(msg['messageId']) ?? `${type}-${timestamp}-${Math.random().toString(36).slice(2)}`,
    timestamp,
    eventType: type === 'track' ? (str(msg['event']) ?? 'track') : type,
    type,
    identityMap,
  };
  for (const k of ['event', 'name', 'category', 'properties', 'context', 'groupId', 'traits', 'integrations']) if (msg[k] !== undefined) record[k] = msg[k]!;
  return { kind: 'activity', record };
}
