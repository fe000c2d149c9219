export interface GraphIdentity {
  namespace: string;
  value: string;
  priority: number;
  firstSeen: number;
}

/**
 * The identities to drop so that a profile keeps at most `max`: the least important namespaces
 * first (highest priority number), and within those the oldest.
 */
export function identitiesToDrop<T extends GraphIdentity>(identities: readonly T[], max: number): T[] {
  if (identities.length <= max) return [];
  const order = [...identities].sort((a, b) => b.priority - a.priority || a.firstSeen - b.firstSeen);
  return order.slice(0, identities.length - max);
}
