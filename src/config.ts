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
  /** Scale-out: the NATS JetStream ingestion log (needs the postgres backend). */
  nats?: NatsConfig;
  /** Scale-out: streaming ingestion waits, then answers 503, while the workers are more than this far behind (ms); off when undefined. */
  maxApplyLagMs?: number;
}

export interface NatsConfig {
  url: string;
  stream: string;
  partitions: number;
  maxMessages: number;
  maxBytes: number;
}

export interface ConfigFlags {
  port?: string | number;
  host?: string;
  dataDir?: string;
  logLevel?: string;
  backend?: string;
  postgresUrl?: string;
  postgresSchema?: string;
  natsUrl?: string;
  natsStream?: string;
  partitions?: string | number;
  natsMaxMessages?: string | number;
  natsMaxBytes?: string | number;
  maxApplyLag?: string | number;
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
  const nats = loadNatsConfig(flags, env, schema);
  if (nats && backend !== 'postgres') throw new Error('--nats-url (TESSERA_NATS_URL) needs the postgres backend: add --backend postgres --postgres-url URL');
  const lagText = flags.maxApplyLag ?? env['TESSERA_MAX_APPLY_LAG_MS'];
  const maxApplyLagMs = lagText === undefined || lagText === '' ? undefined : positiveInt('--max-apply-lag (TESSERA_MAX_APPLY_LAG_MS)', String(lagText));
  if (maxApplyLagMs !== undefined && !nats) throw new Error('--max-apply-lag (TESSERA_MAX_APPLY_LAG_MS) bounds how far the workers of the scale-out mode are behind: it needs --nats-url');
  return {
    ...(nats ? { nats } : {}),
    ...(maxApplyLagMs !== undefined ? { maxApplyLagMs } : {}),
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

const positiveInt = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${text}"`);
  return n;
};

/** The ingestion log's settings, when a NATS URL is given; the stream is named after the schema by default. */
export function loadNatsConfig(flags: ConfigFlags, env: NodeJS.ProcessEnv, schema: string | undefined): NatsConfig | undefined {
  const url = flags.natsUrl ?? env['TESSERA_NATS_URL'];
  if (!url) return undefined;
  const stream = flags.natsStream ?? env['TESSERA_NATS_STREAM'] ?? `TESSERA${schema ? `_${schema.toUpperCase()}` : ''}`;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(stream)) throw new Error(`the NATS stream name may hold letters, digits, _ and -, got "${stream}"`);
  return {
    url,
    stream,
    partitions: positiveInt('--partitions (TESSERA_PARTITIONS)', String(flags.partitions ?? env['TESSERA_PARTITIONS'] ?? '16')),
    maxMessages: positiveInt('--nats-max-messages (TESSERA_NATS_MAX_MESSAGES)', String(flags.natsMaxMessages ?? env['TESSERA_NATS_MAX_MESSAGES'] ?? '100000')),
    maxBytes: positiveInt('--nats-max-bytes (TESSERA_NATS_MAX_BYTES)', String(flags.natsMaxBytes ?? env['TESSERA_NATS_MAX_BYTES'] ?? String(4 * 1024 ** 3))),
  };
}
