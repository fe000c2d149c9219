import type pg from 'pg';
import type { ClusterLock } from '../../ports/cluster-lock.js';
import { storeErrorOf } from './pg-client.js';

/**
 * Cluster-wide locks as PostgreSQL session advisory locks: held on a connection of their own, so
 * a node that dies (its connection closes) lets go of them at once.
 */
export class AdvisoryLock implements ClusterLock {
  /** `scope`: what shares the locks (the schema): advisory locks are per database, so deployments in other schemas must not collide. */
  constructor(
    private readonly pool: pg.Pool,
    private readonly scope = '',
  ) {}

  async tryAcquire(lockName: string, onLost?: () => void): Promise<(() => Promise<void>) | undefined> {
    const name = `${this.scope}/${lockName}`;
    const client = await this.pool.connect().catch((err: unknown) => {
      throw storeErrorOf(err);
    });
    try {
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok', [name]);
      if (!rows[0]?.ok) {
        client.release();
        return undefined;
      }
    } catch (err) {
      client.release(err as Error);
      throw storeErrorOf(err);
    }
    // A connection lost while the lock is held (the database restarted, the backend was ended)
    // has already let go of the lock: it goes back to the pool as broken.
    let done = false;
    const lost = (err: Error): void => {
      if (done) return;
      done = true;
      client.release(err);
      onLost?.();
    };
    client.on('error', lost);
    return async () => {
      if (done) return;
      done = true;
      client.off('error', lost);
      try {
        await client.query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [name]);
        client.release();
      } catch (err) {
        client.release(err as Error);
      }
    };
  }
}
