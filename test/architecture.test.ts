import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './helpers/source-files.js';

const SRC = resolve(__dirname, '..', 'src');
/** The edges: the CLI, the HTTP app, and the top-level files that put them together (config, server). */
const EDGES = ['domain', 'ports', 'pipelines', 'services', 'runtime', 'http', 'cli', 'config.js', 'server.js'];

/** docs/ARCHITECTURE.md, "Allowed imports": the folders of src/ that each folder's files may import. */
const ALLOWED: Record<string, readonly string[]> = {
  domain: ['domain'],
  ports: ['domain', 'ports'],
  pipelines: ['domain', 'ports', 'pipelines'],
  services: ['domain', 'ports', 'pipelines', 'services'],
  storage: ['domain', 'ports', 'storage'],
  runtime: ['domain', 'ports', 'pipelines', 'services', 'storage', 'runtime'],
  http: EDGES,
  cli: EDGES,
};

/** The modules a file imports (static imports and exports, and dynamic `import()`): relative ones start with a dot. */
function importsOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/(?:from\s+|import\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}
const isRelative = (spec: string): boolean => spec.startsWith('.');

/**
 * What the domain may import besides itself: small pure libraries, and Node's crypto for digests.
 * No file system, network, database or clock: the domain does no I/O.
 */
const DOMAIN_PACKAGES = [/^libphonenumber-js$/, /^uuid$/, /^any-ascii$/, /^fastest-levenshtein$/, /^talisman\/(metrics|phonetics)\//, /^node:crypto$/];

/** The folder of src/ a path lies in (or the file, for one at the top). */
const topOf = (path: string): string => relative(SRC, path).split(sep)[0]!;

describe('the architecture: dependencies point inward', () => {
  it('every folder of src/ imports only what docs/ARCHITECTURE.md allows it', () => {
    const breaches: string[] = [];
    let imports = 0;
    for (const [folder, allowed] of Object.entries(ALLOWED)) {
      for (const file of sourceFiles(join(SRC, folder))) {
        for (const spec of importsOf(file).filter(isRelative)) {
          imports++;
          const target = topOf(resolve(dirname(file), spec));
          if (!allowed.includes(target)) breaches.push(`${relative(SRC, file)} imports ${spec} (${folder} → ${target})`);
        }
      }
    }
    expect(imports).toBeGreaterThan(500);
    expect(breaches).toEqual([]);
  });

  it('the domain imports only pure libraries (no I/O)', () => {
    const outside: string[] = [];
    for (const file of sourceFiles(join(SRC, 'domain'))) {
      for (const spec of importsOf(file).filter((spec) => !isRelative(spec))) if (!DOMAIN_PACKAGES.some((p) => p.test(spec))) outside.push(`${relative(SRC, file)} imports ${spec}`);
    }
    expect(outside).toEqual([]);
  });

  it('uses no `any` (TypeScript strict, and no escape from it)', () => {
    const found: string[] = [];
    for (const file of sourceFiles(SRC)) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line.trim();
          if (code.startsWith('*') || code.startsWith('/*') || code.startsWith('//')) return;
          if (/(:\s*any\b(?!\s+\w)|\bas\s+any\b|<any>|\bany\[\]|<any,|,\s*any>)/.test(code)) found.push(`${relative(SRC, file)}:${i + 1}: ${code}`);
        });
    }
    expect(found).toEqual([]);
  });
});
