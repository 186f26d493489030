import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy under the test's control, on a link between two sites: it forwards to a target port
 * that can be changed (another process behind the same address), cut (every connection dropped,
 * new ones refused at once), or black-holed (connections stay open, nothing passes: what a pulled
 * cable looks like, which only heartbeats can detect).
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  private mode: 'forward' | 'cut' | 'blackhole' = 'forward';
  port = 0;

  constructor(private target: number) {
    this.server = createServer((client) => {
      if (this.mode !== 'forward') {
        if (this.mode === 'cut') client.destroy();
        else client.on('data', () => undefined);
        return;
      }
      const upstream = connect(this.target, '127.0.0.1');
      client.setNoDelay(true);
      upstream.setNoDelay(true);
      const pair = { client, upstream };
      this.pairs.add(pair);
      client.on('data', (d: Buffer) => this.mode === 'forward' && upstream.write(d));
      upstream.on('data', (d: Buffer) => this.mode === 'forward' && client.write(d));
      const end = (side: Socket) => () => {
        // a dead path carries no FIN or RST either: while black-holed, an end stays on its side
        if (this.mode === 'blackhole') {
          side.destroy();
          return;
        }
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('close', end(client));
      upstream.on('close', end(upstream));
      client.on('error', end(client));
      upstream.on('error', end(upstream));
    });
  }

  static async start(target: number): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', r));
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  /** Forwards new connections to another port; the open ones are dropped. */
  retarget(port: number): void {
    this.target = port;
    this.dropAll();
  }

  cut(): void {
    this.mode = 'cut';
    this.dropAll();
  }

  blackhole(): void {
    this.mode = 'blackhole';
  }

  heal(): void {
    this.mode = 'forward';
    // black-holed connections are broken for good: drop them so that the ends reconnect
    this.dropAll();
  }

  get connections(): number {
    return this.pairs.size;
  }

  stop(): Promise<void> {
    return this.close();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private dropAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }
}
