export type RefreshStatus = 'running' | 'success' | 'failed';
export type RefreshTrigger = 'manual' | 'schedule';

export interface RefreshStage {
  name: string;
  ms: number;
}

/** What a run counted. */
export interface RefreshCounts {
  records: number;
  pairsCompared: number;
  pairsMatched: number;
  identityLinks: number;
  clusters: number;
  clustersCreated: number;
  clustersMerged: number;
  clustersSplit: number;
  duplicatesSuppressed: number;
  blocksSkipped: number;
  enriched: number;
}

export interface RefreshRun {
  instanceId: string;
  id: string;
  status: RefreshStatus;
  trigger: RefreshTrigger;
  startedAt: number;
  finishedAt: number | null;
  /** Finished stages with their time, and the stage in progress last (ms 0 until it ends). */
  stages: RefreshStage[];
  counts: Partial<RefreshCounts>;
  message: string | null;
}

/** The history of refresh runs (control plane). */
export interface RefreshRunStore {
  save(run: RefreshRun): Promise<void>;
  get(instanceId: string, id: string): Promise<RefreshRun | undefined>;
  /** Newest first. */
  list(instanceId: string, limit: number, offset: number): Promise<RefreshRun[]>;
  /** Keeps the model a probabilistic run trained (to explain matches with). */
  saveModel(instanceId: string, runId: string, model: unknown): Promise<void>;
  /** The model of the latest successful run that trained one. */
  latestModel(instanceId: string): Promise<{ runId: string; model: unknown } | undefined>;
  /** The instances that have a run in `running` (being run, or left so by a node that stopped). */
  instancesRunning(): Promise<string[]>;
  /** Marks an instance's runs in `running` failed: they were left so by a node that stopped. */
  failInterrupted(instanceId: string, at: number): Promise<number>;
}
