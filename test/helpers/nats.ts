import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';

export const NATS_URL = process.env['TESSERA_TEST_NATS_URL'] ?? '127.0.0.1:4222';

async function reachable(): Promise<boolean> {
  try {
    const nc = await connect({ servers: NATS_URL, timeout: 3000 });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      return true;
    } finally {
      await nc.close();
    }
  } catch {
    return false;
  }
}

/**
 * Whether the NATS JetStream tests run. In CI NATS must be there (.ci/run starts it): a missing
 * service fails loudly. Elsewhere the tests are skipped with a message.
 */
export async function natsForTests(): Promise<boolean> {
  if (await reachable()) return true;
  if (process.env['CI']) throw new Error(`NATS JetStream is not reachable at ${NATS_URL}; in CI the scale-out tests must run (.ci/run starts the service)`);
  process.stderr.write(`NATS JetStream is not reachable at ${NATS_URL}: the scale-out tests are skipped (set TESSERA_TEST_NATS_URL)\n`);
  return false;
}

export async function deleteStream(name: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    await (await jetstreamManager(nc)).streams.delete(name).catch(() => undefined);
  } finally {
    await nc.close();
  }
}
