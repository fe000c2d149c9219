import type { FastifyInstance } from 'fastify';
import type { Clock } from './domain/clock.js';
import type { ServerConfig } from './config.js';
import { buildApp } from './http/app.js';
import { openTessera, type Tessera } from './runtime/tessera.js';

export interface RunningServer {
  app: FastifyInstance;
  tessera: Tessera;
  url: string;
  /** The admin key created at first start when none was configured (shown once). */
  generatedAdminKey?: string;
  close(): Promise<void>;
}

/** Creates instance `default` on an empty data dir, with the configured admin key or a new one. */
export async function bootstrap(t: Tessera, adminKey: string | undefined): Promise<string | undefined> {
  if ((await t.instances.list()).length > 0) return undefined;
  const { admin } = await t.instances.create('default', 'Default instance', adminKey);
  return adminKey ? undefined : admin.secret;
}

/** Starts Tessera on its backend: state, lake, recovery, then the HTTP API. */
export async function startServer(config: ServerConfig, options: { clock?: Clock; logger?: boolean } = {}): Promise<RunningServer> {
  const tessera = await openTessera({ dataDir: config.dataDir, ...(config.postgres ? { postgres: config.postgres } : {}), ...(config.nats ? { nats: config.nats } : {}), ...(config.maxApplyLagMs !== undefined ? { maxApplyLagMs: config.maxApplyLagMs } : {}), ...(options.clock ? { clock: options.clock } : {}) });
  const generatedAdminKey = await bootstrap(tessera, config.bootstrapAdminKey);
  await tessera.recover();
  const app = await buildApp(tessera, {
    logger: options.logger === false ? false : { level: config.logLevel },
    usageTelemetry: config.usageTelemetry !== false,
    rateLimits: config.rateLimits !== false,
  });
  const url = await app.listen({ port: config.port, host: config.host });
  let closing: Promise<void> | undefined;
  const server: RunningServer = {
    app,
    tessera,
    url,
    close: () => {
      closing ??= (async () => {
        await app.close();
        await tessera.close();
      })();
      return closing;
    },
  };
  if (generatedAdminKey) server.generatedAdminKey = generatedAdminKey;
  return server;
}
