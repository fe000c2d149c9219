import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type ResourceLimits } from 'node:worker_threads';

/** Starts a worker thread on a module of this folder: the compiled entry, or the TypeScript source through tsx when run from source (tests). */
export function spawnWorker(name: string, workerData: unknown, resourceLimits?: ResourceLimits): Worker {
  const js = new URL(`./${name}.js`, import.meta.url);
  const options = { workerData, ...(resourceLimits ? { resourceLimits } : {}) };
  if (existsSync(fileURLToPath(js))) return new Worker(js, options);
  const ts = new URL(`./${name}.ts`, import.meta.url).href;
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(ts)}); })`;
  return new Worker(boot, { eval: true, ...options });
}
