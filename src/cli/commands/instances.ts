import type { Command } from 'commander';
import { openControl } from '../../runtime/tessera.js';
import { dataDirOf, print } from './data-dir.js';

export function registerInstances(program: Command): void {
  const cmd = program.command('instances').description('manage instances (tenants) in a data dir');
  cmd
    .command('create <id>')
    .description('create an instance and print its first admin key')
    .option('--name <name>', 'display name')
    .option('-d, --data-dir <dir>', 'data dir (env TESSERA_DATA_DIR, default ./data)')
    .option('--json', 'print JSON')
    .action(async (id: string, flags: { name?: string; dataDir?: string; json?: boolean }) => {
      const c = openControl(dataDirOf(flags.dataDir));
      try {
        const { instance, admin } = await c.instances.create(id, flags.name ?? id);
        print({ id: instance.id, name: instance.name, adminKeyId: admin.key.id, adminKey: admin.secret }, flags.json, () =>
          `created instance ${instance.id}\nadmin key (shown once): ${admin.secret}`,
        );
      } finally {
        c.close();
      }
    });
  cmd
    .command('list')
    .description('list instances')
    .option('-d, --data-dir <dir>', 'data dir')
    .option('--json', 'print JSON')
    .action(async (flags: { dataDir?: string; json?: boolean }) => {
      const c = openControl(dataDirOf(flags.dataDir));
      try {
        const list = await c.instances.list();
        print(list.map((i) => ({ id: i.id, name: i.name, createdAt: new Date(i.createdAt).toISOString() })), flags.json, () =>
          list.map((i) => `${i.id}\t${i.name}`).join('\n'),
        );
      } finally {
        c.close();
      }
    });
}
