/** Named locks held by at most one holder across the cluster (one process in the embedded mode). */
export interface ClusterLock {
  /** Takes the lock unless someone holds it; the release function, or undefined when it is taken. `onLost`: called if the lock is lost while held (its holder's connection died). */
  tryAcquire(name: string, onLost?: () => void): Promise<(() => Promise<void>) | undefined>;
}

/** The embedded mode's locks: one process, so a set of names. */
export class LocalLock implements ClusterLock {
  private readonly held = new Set<string>();

  async tryAcquire(name: string): Promise<(() => Promise<void>) | undefined> {
    if (this.held.has(name)) return undefined;
    this.held.add(name);
    return async () => void this.held.delete(name);
  }
}
