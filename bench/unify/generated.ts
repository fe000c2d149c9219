export async function runGenerated(count: number, log: (msg: string) => void): Promise<void> {
  log(`generate ${count}: not yet`);
}
