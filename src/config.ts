import { resolve } from 'node:path';

/** Server configuration, parsed once at start-up from flags and environment. */
export interface ServerConfig {
  port: number;
  host: string;
  dataDir: string;
  bootstrapAdminKey: string | undefined;
  logLevel: string;
  /** API usage telemetry and rate limits (TESSERA_USAGE=off / TESSERA_RATE_LIMITS=off turn them off). */
  usageTelemetry: boolean;
  rateLimits: boolean;
  /** `postgres`: profile state and the control plane on PostgreSQL (the lake stays in the data dir). */
  backend: 'embedded' | 'postgres';
  postgres?: { url: string; schema?: string };
}

export interface ConfigFlags {
  port?: string | number;
  host?: string;
  dataDir?: string;
  logLevel?: string;
  backend?: string;
  postgresUrl?: string;
  postgresSchema?: string;
}

export function loadConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const portText = String(flags.port ?? env['TESSERA_PORT'] ?? '8080');
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`port must be an integer from 0 to 65535, got "${portText}"`);
  const backend = flags.backend ?? env['TESSERA_BACKEND'] ?? 'embedded';
  if (backend !== 'embedded' && backend !== 'postgres') throw new Error(`backend must be embedded or postgres, got "${backend}"`);
  const url = flags.postgresUrl ?? env['TESSERA_POSTGRES_URL'];
  if (backend === 'postgres' && !url) throw new Error('the postgres backend needs --postgres-url (or TESSERA_POSTGRES_URL), e.g. postgres://user@host:5432/db');
  const schema = flags.postgresSchema ?? env['TESSERA_POSTGRES_SCHEMA'];
  return {
    backend,
    ...(backend === 'postgres' ? { postgres: { url: url!, ...(schema ? { schema } : {}) } } : {}),
    port,
    host: flags.host ?? env['TESSERA_HOST'] ?? '0.0.0.0',
    dataDir: resolve(flags.dataDir ?? env['TESSERA_DATA_DIR'] ?? './data'),
    bootstrapAdminKey: env['TESSERA_BOOTSTRAP_ADMIN_KEY'] || undefined,
    logLevel: flags.logLevel ?? env['TESSERA_LOG_LEVEL'] ?? 'info',
    usageTelemetry: env['TESSERA_USAGE'] !== 'off',
    rateLimits: env['TESSERA_RATE_LIMITS'] !== 'off',
  };
}
