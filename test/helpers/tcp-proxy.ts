import { createServer, connect, type Server, type Socket } from 'node:net';
import { Transform } from 'node:stream';

export interface TcpProxy {
  port: number;
  /** Takes the service away: every connection is cut and none is taken until `up`. */
  down(): Promise<void>;
  up(): Promise<void>;
  /** While on, what the service sends is lost on the way (as on a connection about to break): the client hears nothing. */
  loseReplies(on: boolean): void;
  /** Cuts every connection open now; new ones are taken (the client reconnects). */
  cut(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy to a service, to take it away from one client and give it back (an outage seen by
 * that client alone, while the service keeps serving the other tests), or to lose what it sends.
 */
export async function tcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let losing = false;
  const up = (): Promise<void> =>
    new Promise((resolve) => {
      server = createServer((client) => {
        const upstream = connect(target);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(upstream);
        upstream.pipe(new Transform({ transform: (chunk: Buffer, _encoding, done) => done(null, losing ? undefined : chunk) })).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  const cut = (): void => {
    for (const s of sockets) s.destroy();
  };
  const down = (): Promise<void> =>
    new Promise((resolve) => {
      cut();
      if (!server) return resolve();
      server.close(() => resolve());
      server = undefined;
    });
  await up();
  return {
    port,
    down,
    up,
    loseReplies: (on) => void (losing = on),
    cut: () => {
      losing = false;
      cut();
    },
    close: down,
  };
}
