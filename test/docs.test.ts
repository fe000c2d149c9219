import { readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceFiles } from './helpers/source-files.js';

const ROOT = resolve(__dirname, '..');
const SRC = join(ROOT, 'src');

const matches = (text: string, pattern: RegExp): string[] => [...text.matchAll(pattern)].map((m) => m[1]!);

/** The error codes the source raises: thrown errors, answers built by hand, records refused or kept as failed. */
function codesInSource(): Map<string, string> {
  const codes = new Map<string, string>();
  for (const file of sourceFiles(SRC)) {
    // Namespace codes (`email`, `phone`, …) are not errors.
    if (relative(SRC, file) === join('domain', 'identity', 'namespaces.ts')) continue;
    const text = readFileSync(file, 'utf8');
    for (const pattern of [
      /\b(?:invalid|notFound|conflict)\(\s*'([a-z_]+)'/g,
      /new TesseraError\(\s*'[a-z_]+',\s*'([a-z_]+)'/g,
      /\bcode:\s*'([a-z_]+)'/g,
      /\bfail\(\s*'([a-z_]+)'/g,
      /failedRecordOf\([^,]+,\s*'([a-z_]+)'/g,
    ]) {
      for (const code of matches(text, pattern)) codes.set(code, relative(ROOT, file));
    }
  }
  return codes;
}

describe('the documentation and the code agree', () => {
  it('docs/ERRORS.md lists every error code the source raises, and no other', () => {
    const documented = new Set(matches(readFileSync(join(ROOT, 'docs', 'ERRORS.md'), 'utf8'), /^\| `([a-z_]+)` \|/gm));
    const raised = codesInSource();
    expect(raised.size).toBeGreaterThan(80);
    expect([...raised].filter(([code]) => !documented.has(code)).map(([code, file]) => `${code} (${file})`)).toEqual([]);
    expect([...documented].filter((code) => !raised.has(code))).toEqual([]);
  });

  it('docs/METRICS.md lists every metric the source registers, and no other', () => {
    const documented = new Set(matches(readFileSync(join(ROOT, 'docs', 'METRICS.md'), 'utf8'), /^\| `(tessera_[a-z_]+)` \|/gm));
    const registered = new Set([...sourceFiles(SRC)].flatMap((file) => matches(readFileSync(file, 'utf8'), /\bname:\s*'(tessera_[a-z_]+)'/g)));
    expect(registered.size).toBeGreaterThan(20);
    expect([...registered].filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !registered.has(name))).toEqual([]);
  });

  it('the README names every TESSERA_* environment variable and every command-line option the source reads', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const missing: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const name of matches(text, /\b(TESSERA_[A-Z_]+)\b/g)) if (!readme.includes(name)) missing.push(`${name} (${relative(ROOT, file)})`);
      for (const flag of matches(text, /\.(?:option|requiredOption)\(\s*'(?:-\w, )?(--[a-z-]+)/g)) {
        const name = flag.replace(/^--no-/, '--');
        if (!readme.includes(`\`${flag}`) && !readme.includes(` ${flag}`) && !readme.includes(`[${flag}`) && !readme.includes(name)) missing.push(`${flag} (${relative(ROOT, file)})`);
      }
    }
    expect(missing).toEqual([]);
  });
});
