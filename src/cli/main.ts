#!/usr/bin/env node
import { Command } from 'commander';
import { registerServe } from './commands/serve.js';
import { registerInstances } from './commands/instances.js';
import { registerKeys } from './commands/keys.js';
import { registerRebuild } from './commands/rebuild.js';
import { registerImport } from './commands/import.js';
import { registerRefresh } from './commands/refresh.js';
import { registerWorker } from './commands/worker.js';
import { registerVacuum } from './commands/vacuum.js';

const program = new Command();
program.name('tessera').description('Tessera: a self-hostable real-time customer data platform').version('0.1.0');
registerServe(program);
registerInstances(program);
registerKeys(program);
registerRebuild(program);
registerImport(program);
registerRefresh(program);
registerWorker(program);
registerVacuum(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`tessera: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
