import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CLI = join(__dirname, '..', '..', 'dist', 'cli', 'main.js');

export function runCli(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
  exited: Promise<number | null>;
}

/** Starts a `tessera` command as a child process and waits until its output says where it listens. */
export async function spawnTessera(args: string[], env: Record<string, string>, ready: RegExp): Promise<ServerProcess> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start: ${out}`)), 30_000);
    const check = (): void => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited: ${out}`));
    });
  });
  return { child, url, output: () => out, exited };
}

/** Starts `tessera serve` as a child process and waits until it listens. */
export async function spawnServer(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const port = args.includes('--port') || env['TESSERA_PORT'] ? [] : ['--port', '0'];
  const level = args.includes('--log-level') ? [] : ['--log-level', 'warn'];
  return spawnTessera(['serve', '--host', '127.0.0.1', ...port, ...level, ...args], env, /listening on (http:\/\/[^\s]+)/);
}

/** Starts `tessera worker` as a child process (health on a free port) and waits until it runs. */
export async function spawnWorker(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  return spawnTessera(['worker', '--port', '0', ...args], env, /health on (http:\/\/[^\s]+)\/health/);
}

/** Temp dirs and server processes of a test file, cleaned up after each test. */
export function processJanitor(): { tempDir: () => string; track: (s: ServerProcess) => ServerProcess; cleanup: () => Promise<void> } {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  return {
    tempDir: () => {
      const d = mkdtempSync(join(tmpdir(), 'tessera-proc-'));
      dirs.push(d);
      return d;
    },
    track: (s) => {
      servers.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of servers.splice(0)) {
        if (s.child.exitCode === null) {
          s.child.kill('SIGKILL');
          await s.exited;
        }
      }
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
