/** On SIGTERM or SIGINT: says so, runs `close` (finishing in-flight work), and exits 0 (1 if closing failed). */
export function closeOnSignals(what: string, close: () => Promise<void>): void {
  const stop = (signal: string): void => {
    process.stdout.write(`${signal}: ${what}\n`);
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
