import { resolve } from 'node:path';

/** The data dir a CLI command acts on: --data-dir, else TESSERA_DATA_DIR, else ./data. */
export const dataDirOf = (flag: string | undefined): string => resolve(flag ?? process.env['TESSERA_DATA_DIR'] ?? './data');

export const print = (value: unknown, json: boolean | undefined, text: () => string): void => {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
};
