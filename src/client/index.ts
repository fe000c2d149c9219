import type { Static } from 'typebox';
import type { CreateDatasetBody, CreateKeyBody, CreateSchemaBody, NamespaceBody, SettingsPatch, UpdateDatasetBody } from '../http/schemas/manage.js';
import type { UnificationBody } from '../http/schemas/unification.js';

/** The JSON the API answers with; walk it as the API reference (/docs) describes. */
export type ApiDocument = { [key: string]: unknown };

export interface ClientOptions {
  /** e.g. http://localhost:8080 */
  baseUrl: string;
  apiKey: string;
  instanceId?: string;
  /** Retries on 429 and 503, waiting as Retry-After says (default 5). */
  maxRetries?: number;
  /** Used when an answer has no Retry-After (default 1000 ms). */
  defaultRetryMs?: number;
  fetch?: typeof fetch;
}

/** An error answer of the API: its status, stable code, message and details. */
export class TesseraApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(`${status} ${code}: ${message}`);
    this.name = 'TesseraApiError';
  }
}

export interface StreamMessage {
  datasetId: string;
  record: Record<string, unknown>;
}

export interface Page {
  limit?: number;
  offset?: number;
}

const qs = (params: Record<string, string | number | boolean | undefined>): string => {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined) as Array<[string, string | number | boolean]>;
  return entries.length === 0 ? '' : `?${entries.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&')}`;
};

/**
 * A typed client for every Tessera route. Requests that meet a rate limit (429) or a busy server
 * (503) are retried after the time its Retry-After asks for.
 */
export class TesseraClient {
  private readonly base: string;
  private readonly instance: string;
  private readonly doFetch: typeof fetch;

  constructor(private readonly options: ClientOptions) {
    this.base = options.baseUrl.replace(/\/$/, '');
    this.instance = options.instanceId ?? 'default';
    this.doFetch = options.fetch ?? fetch;
  }

  private path(p: string): string {
    return `/api/instances/${encodeURIComponent(this.instance)}${p}`;
  }

  /** One request, with retries on 429/503; the parsed body, or a TesseraApiError. */
  async request<T = ApiDocument>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const max = this.options.maxRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
      const res = await this.doFetch(this.base + path, {
        method,
        headers: { authorization: `Bearer ${this.options.apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
        ...(body !== undefined ? { body: typeof body === 'string' || body instanceof Blob ? body : JSON.stringify(body) } : {}),
      });
      if ((res.status === 429 || res.status === 503) && attempt < max) {
        const after = Number(res.headers.get('retry-after'));
        await res.arrayBuffer();
        await new Promise((r) => setTimeout(r, Number.isFinite(after) && after > 0 ? after * 1000 : (this.options.defaultRetryMs ?? 1000)));
        continue;
      }
      const text = await res.text();
      const parsed: unknown = text === '' ? undefined : JSON.parse(text);
      if (res.status >= 400 && res.status !== 207) {
        const e = (parsed ?? {}) as { code?: string; message?: string; details?: unknown };
        throw new TesseraApiError(res.status, e.code ?? 'error', e.message ?? res.statusText, e.details);
      }
      return parsed as T;
    }
  }

  // Keys and settings (admin)
  listKeys = () => this.request('GET', this.path('/manage/keys'));
  createKey = (body: Static<typeof CreateKeyBody>) => this.request('POST', this.path('/manage/keys'), body);
  getKey = (keyId: string) => this.request('GET', this.path(`/manage/keys/${keyId}`));
  rotateKey = (keyId: string) => this.request('POST', this.path(`/manage/keys/${keyId}/rotate`));
  expireSecondaryKey = (keyId: string) => this.request('POST', this.path(`/manage/keys/${keyId}/expire-secondary`));
  revokeKey = (keyId: string) => this.request('DELETE', this.path(`/manage/keys/${keyId}`));
  getSettings = () => this.request('GET', this.path('/manage/settings'));
  updateSettings = (patch: Static<typeof SettingsPatch>) => this.request('PATCH', this.path('/manage/settings'), patch);

  // Catalog
  listNamespaces = () => this.request('GET', this.path('/manage/namespaces'));
  upsertNamespace = (body: Static<typeof NamespaceBody>) => this.request('POST', this.path('/manage/namespaces'), body);
  listSchemas = () => this.request('GET', this.path('/manage/schemas'));
  createSchema = (body: Static<typeof CreateSchemaBody>) => this.request('POST', this.path('/manage/schemas'), body);
  getSchema = (id: string) => this.request('GET', this.path(`/manage/schemas/${id}`));
  listDatasets = () => this.request('GET', this.path('/manage/datasets'));
  createDataset = (body: Static<typeof CreateDatasetBody>) => this.request('POST', this.path('/manage/datasets'), body);
  getDataset = (id: string) => this.request('GET', this.path(`/manage/datasets/${id}`));
  updateDataset = (id: string, patch: Static<typeof UpdateDatasetBody>) => this.request('PATCH', this.path(`/manage/datasets/${id}`), patch);
  failedRecords = (datasetId: string, page: Page = {}) => this.request('GET', this.path(`/manage/datasets/${datasetId}/failed${qs({ ...page })}`));
  identityWarnings = (page: Page = {}) => this.request('GET', this.path(`/manage/identity-warnings${qs({ ...page })}`));
  entity = (name: string) => this.request('GET', this.path(`/manage/entities/${encodeURIComponent(name)}`));

  // Streaming ingestion
  ingest = (datasetId: string, record: Record<string, unknown>, o: { syncValidation?: boolean; caller?: string } = {}) =>
    this.request('POST', this.path(`/collection/${datasetId}${qs(o)}`), { record });
  ingestBatch = (messages: StreamMessage[], o: { caller?: string } = {}) => this.request('POST', this.path(`/collection/batch${qs(o)}`), { messages });

  /**
   * Sends any number of messages in batches (default 500 a request, 4 requests at a time), with
   * retries; resolves with one result per message, in order.
   */
  async ingestAll(messages: StreamMessage[], o: { batchSize?: number; concurrency?: number; caller?: string } = {}): Promise<ApiDocument[]> {
    const size = o.batchSize ?? 500;
    const chunks: StreamMessage[][] = [];
    for (let i = 0; i < messages.length; i += size) chunks.push(messages.slice(i, i + size));
    const results: ApiDocument[][] = new Array<ApiDocument[]>(chunks.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < chunks.length; i = next++) {
        const res = await this.ingestBatch(chunks[i]!, o.caller !== undefined ? { caller: o.caller } : {});
        results[i] = (res['results'] as ApiDocument[]).map((r) => ({ ...r, index: i * size + Number(r['index']) }));
      }
    };
    await Promise.all(Array.from({ length: Math.min(o.concurrency ?? 4, chunks.length) }, worker));
    return results.flat();
  }

  // Real-time API
  updateCustomer = (customerId: string, fields: Record<string, unknown>, o: { validUntil?: string; caller?: string } = {}) =>
    this.request<undefined>('PATCH', this.path(`/data/Customer/${customerId}${qs(o)}`), fields);
  createActivity = (activity: Record<string, unknown>, o: { validUntil?: string; caller?: string } = {}) => this.request('POST', this.path(`/data/UnifiedActivity${qs(o)}`), activity);
  createDatasetActivity = (datasetName: string, record: Record<string, unknown>, o: { validUntil?: string; caller?: string } = {}) =>
    this.request('POST', this.path(`/data/${encodeURIComponent(datasetName)}${qs(o)}`), record);

  // Batches
  createBatch = (body: { datasetId: string; format: 'csv' | 'ndjson' | 'json' | 'parquet'; errorThreshold?: number; mapping?: Record<string, string>; csv?: { delimiter?: string; quote?: string; trim?: boolean } }) =>
    this.request('POST', this.path('/batches'), body);
  uploadBatchFile = (batchId: string, fileName: string, content: string | Uint8Array) =>
    this.request('PUT', this.path(`/batches/${batchId}/files/${encodeURIComponent(fileName)}`), typeof content === 'string' ? content : new Blob([new Uint8Array(content)]), { 'content-type': 'application/octet-stream' });
  completeBatch = (batchId: string) => this.request('POST', this.path(`/batches/${batchId}/complete`));
  getBatch = (batchId: string) => this.request('GET', this.path(`/batches/${batchId}`));
  listBatches = (o: { datasetId?: string; limit?: number } = {}) => this.request('GET', this.path(`/batches${qs(o)}`));
  batchErrors = (batchId: string, page: Page = {}) => this.request('GET', this.path(`/batches/${batchId}/errors${qs({ ...page })}`));

  // Reads
  profile = (customerId: string, o: { mergePolicy?: 'timestampOrdered' | 'datasetPrecedence' } = {}) => this.request('GET', this.path(`/profiles/${customerId}${qs(o)}`));
  profileByIdentity = (identity: string, o: { mergePolicy?: 'timestampOrdered' | 'datasetPrecedence' } = {}) => this.request('GET', this.path(`/profiles${qs({ identity, ...o })}`));
  listProfiles = (o: { after?: string; limit?: number } = {}) => this.request('GET', this.path(`/profiles${qs(o)}`));
  identities = (customerId: string) => this.request('GET', this.path(`/profiles/${customerId}/identities`));
  fragments = (customerId: string) => this.request('GET', this.path(`/profiles/${customerId}/fragments`));
  merges = (customerId: string) => this.request('GET', this.path(`/profiles/${customerId}/merges`));
  timeline = (customerId: string, o: { limit?: number; cursor?: string; type?: string; from?: string; to?: string; order?: 'asc' | 'desc' } = {}) =>
    this.request('GET', this.path(`/profiles/${customerId}/timeline${qs(o)}`));
  keyRing = (o: { dataSourceName?: string; entityName?: string; key: string }) => this.request('GET', this.path(`/profile/keyring${qs(o)}`));
  accessEntities = (query: Record<string, string | number>) => this.request('GET', this.path(`/access/entities${qs(query)}`));

  // Unification, refresh runs and deleting source records
  getUnification = () => this.request('GET', this.path('/manage/unification'));
  putUnification = (config: Static<typeof UnificationBody>) => this.request('PUT', this.path('/manage/unification'), config);
  /** Why two source records (`dataset/recordKey` each) match or not. */
  explainMatch = (left: string, right: string) => this.request('POST', this.path('/manage/unification/explain'), { left, right });
  /** Starts a refresh: the run at once (202), or with `wait` once it has finished. */
  startRefresh = (o: { wait?: boolean } = {}) => this.request('POST', this.path(`/manage/refresh${qs(o)}`));
  refreshRuns = (page: Page = {}) => this.request('GET', this.path(`/manage/refresh/runs${qs({ ...page })}`));
  refreshRun = (runId: string) => this.request('GET', this.path(`/manage/refresh/runs/${runId}`));
  deleteSourceRecord = (datasetId: string, recordKey: string, o: { caller?: string } = {}) =>
    this.request<undefined>('DELETE', this.path(`/manage/datasets/${datasetId}/records/${encodeURIComponent(recordKey)}${qs(o)}`));

  // Tracking write keys and usage
  listWriteKeys = () => this.request('GET', this.path('/manage/write-keys'));
  createWriteKey = (name: string) => this.request('POST', this.path('/manage/write-keys'), { name });
  revokeWriteKey = (id: string) => this.request<undefined>('DELETE', this.path(`/manage/write-keys/${id}`));
  usage = (o: { from?: string; to?: string; groupBy?: string; interval?: 'minute' | 'hour' | 'day' } = {}) => this.request('GET', this.path(`/manage/usage${qs(o)}`));

  // Service
  health = () => this.request('GET', '/healthz');
  ready = () => this.request('GET', '/readyz');
  openApi = () => this.request('GET', '/openapi.json');
}
