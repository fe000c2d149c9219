import { MultiBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { UnificationConfig } from '../../domain/unify/config.js';
import type { RefreshRun } from '../../ports/refresh-runs.js';
import { runView } from '../../http/routes/refresh.js';
import { call, serverOf } from './server-call.js';
import { local, targetOptions, type TargetFlags } from './target.js';

type RunView = ReturnType<typeof runView>;

const summary = (run: RunView): string => {
  const counts = run.counts as Record<string, number>;
  const stages = run.stages.map((s) => `${s.name} ${(s.ms / 1000).toFixed(1)} s`).join(', ');
  return run.status === 'failed'
    ? `refresh ${run.id}: failed — ${run.message ?? ''}`
    : `refresh ${run.id}: ${run.status} in ${((run.durationMs ?? 0) / 1000).toFixed(1)} s (${stages}) — ${counts['records'] ?? 0} records, ${counts['pairsCompared'] ?? 0} pairs compared, ` +
        `${counts['clusters'] ?? 0} profiles (${counts['clustersCreated'] ?? 0} new, ${counts['clustersMerged'] ?? 0} merged, ${counts['clustersSplit'] ?? 0} split), ${counts['duplicatesSuppressed'] ?? 0} duplicates`;
};

/** Follows a run to its end, with a bar per stage on a terminal and a line per stage otherwise. */
async function follow(next: () => Promise<RunView>): Promise<RunView> {
  const tty = process.stderr.isTTY;
  const bars = tty ? new MultiBar({ format: '{stage} [{bar}] {state}', stream: process.stderr, hideCursor: true }, Presets.shades_classic) : undefined;
  const shown = new Map<string, { update: (value: number, payload: object) => void }>();
  let view: RunView;
  for (;;) {
    view = await next();
    view.stages.forEach((s, i) => {
      const finished = i < view.stages.length - 1 || view.status !== 'running';
      const state = finished ? `${(s.ms / 1000).toFixed(1)} s` : 'running';
      let bar = shown.get(s.name);
      if (!bar) {
        if (bars) bar = bars.create(1, 0, { stage: s.name.padEnd(8), state });
        else {
          process.stderr.write(`${s.name}: started\n`);
          bar = { update: () => undefined };
        }
        shown.set(s.name, bar);
      }
      bar.update(finished ? 1 : 0, { stage: s.name.padEnd(8), state });
    });
    if (view.status !== 'running') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  bars?.stop();
  return view;
}

export function registerRefresh(program: Command): void {
  targetOptions(
    program
      .command('refresh')
      .description('run a refresh (unify, enrich, publish) of an instance now; with --watch, follow it stage by stage to the end')
      .option('--watch', 'follow the run with a progress bar per stage until it ends'),
  ).action(async (flags: TargetFlags & { watch?: boolean }) => {
    const remote = serverOf(flags);
    let view: RunView;
    if (remote) {
      const base = `/api/instances/${flags.instance}/manage`;
      const started = await call<RunView>(remote.server, remote.key, 'POST', `${base}/refresh`);
      if (!flags.watch) {
        process.stdout.write(`refresh ${started.id}: started; follow it with GET ${base}/refresh/runs/${started.id}\n`);
        return;
      }
      view = await follow(() => call<RunView>(remote.server, remote.key, 'GET', `${base}/refresh/runs/${started.id}`));
    } else {
      view = await local(flags, async (t) => {
        const { run, done } = await t.refresh.trigger(flags.instance, 'manual');
        let finished: RefreshRun | undefined;
        void done.then((r) => (finished = r));
        return flags.watch ? follow(async () => runView(finished ?? run)) : runView(await done);
      });
    }
    process.stdout.write(`${summary(view)}\n`);
    if (view.status === 'failed') process.exitCode = 1;
  });

  const unification = program.command('unification').description('match rules and refresh settings of an instance');
  targetOptions(unification.command('apply <file>').description('apply unification settings from a YAML or JSON file')).action(async (file: string, flags: TargetFlags) => {
    const text = await readFile(file, 'utf8');
    const config = (/\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text)) as UnificationConfig;
    const remote = serverOf(flags);
    if (remote) await call(remote.server, remote.key, 'PUT', `/api/instances/${flags.instance}/manage/unification`, config);
    else await local(flags, (t) => t.refresh.putConfig(flags.instance, config));
    process.stdout.write(`unification settings of ${flags.instance} applied from ${file}\n`);
  });
  targetOptions(unification.command('show').description('print the unification settings as JSON')).action(async (flags: TargetFlags) => {
    const remote = serverOf(flags);
    const config = remote
      ? await call<UnificationConfig>(remote.server, remote.key, 'GET', `/api/instances/${flags.instance}/manage/unification`)
      : await local(flags, (t) => t.refresh.getConfig(flags.instance));
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
  });
}
