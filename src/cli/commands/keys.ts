import type { Command } from 'commander';
import type { Role } from '../../ports/control-store.js';
import { openControl } from '../../runtime/tessera.js';
import { keyView } from '../../http/routes/keys.js';
import { dataDirOf, print } from './data-dir.js';

interface KeyFlags {
  instance: string;
  dataDir?: string;
  json?: boolean;
}

const withControl = async (flags: KeyFlags, fn: (c: ReturnType<typeof openControl>) => Promise<void>): Promise<void> => {
  const c = openControl(dataDirOf(flags.dataDir));
  try {
    await c.instances.get(flags.instance);
    await fn(c);
  } finally {
    c.close();
  }
};

export function registerKeys(program: Command): void {
  const cmd = program.command('keys').description('manage API keys of an instance in a data dir');
  const common = (c: Command): Command =>
    c.requiredOption('-i, --instance <id>', 'instance id').option('-d, --data-dir <dir>', 'data dir (env TESSERA_DATA_DIR, default ./data)').option('--json', 'print JSON');

  common(cmd.command('create').description('create a key and print its secret once'))
    .requiredOption('--role <role>', 'admin | contributor | viewer')
    .option('--name <name>', 'what the key is for', 'cli')
    .action(async (flags: KeyFlags & { role: Role; name: string }) =>
      withControl(flags, async (c) => {
        const issued = await c.keys.create(flags.instance, flags.name, flags.role);
        print({ ...keyView(issued.key), key: issued.secret }, flags.json, () => `key ${issued.key.id} (${issued.key.role})\nsecret (shown once): ${issued.secret}`);
      }),
    );

  common(cmd.command('list').description('list keys (never their secrets)')).action(async (flags: KeyFlags) =>
    withControl(flags, async (c) => {
      const keys = await c.keys.list(flags.instance);
      print(keys.map(keyView), flags.json, () =>
        keys.map((k) => `${k.id}\t${k.role}\t${k.name}\t${k.revokedAt ? 'revoked' : 'active'}`).join('\n'),
      );
    }),
  );

  common(cmd.command('rotate <keyId>').description('issue a new primary secret; the old one stays valid as secondary')).action(
    async (keyId: string, flags: KeyFlags) =>
      withControl(flags, async (c) => {
        const issued = await c.keys.rotate(flags.instance, keyId);
        print({ ...keyView(issued.key), key: issued.secret }, flags.json, () => `new primary secret (shown once): ${issued.secret}`);
      }),
  );

  common(cmd.command('revoke <keyId>').description('revoke a key')).action(async (keyId: string, flags: KeyFlags) =>
    withControl(flags, async (c) => {
      const key = await c.keys.revoke(flags.instance, keyId);
      print(keyView(key), flags.json, () => `revoked ${key.id}`);
    }),
  );
}
