/** A throwaway redis-server on a free loopback port, for the queue tests. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';

/** Debian's redis-server, or the first on PATH; undefined when there is none. */
export function redisServerPath(): string | undefined {
  if (existsSync('/usr/bin/redis-server')) return '/usr/bin/redis-server';
  const r = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const found = r.stdout.trim();
  return r.status === 0 && found ? found : undefined;
}

/** A free TCP port on 127.0.0.1 (free when asked; the server binds it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Sends PING; true on +PONG. */
async function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('data', (d) => done(d.toString().startsWith('+PONG')));
    sock.once('connect', () => sock.write('PING\r\n'));
  });
}

/** A running redis-server; `kill` and `start` again keep its port and data folder. */
export class RedisServer {
  private child: ChildProcess | undefined;
  constructor(readonly bin: string, readonly port: number, readonly dir: string) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}/0`;
  }

  /**
   * Starts it (append-only file fsynced on every write, so a kill loses no acknowledged job) and
   * waits until it answers, at most `timeoutMs`. @throws when it does not.
   */
  async start(timeoutMs = 15_000): Promise<void> {
    this.child = spawn(this.bin, [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', 'always',
      '--save', '', '--protected-mode', 'yes', '--loglevel', 'warning',
    ], { stdio: 'ignore' });
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.child.exitCode !== null) throw new Error(`redis-server exited with ${this.child.exitCode}`);
      if (await ping(this.port)) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`redis-server did not answer on port ${this.port} within ${timeoutMs} ms`);
  }

  /** SIGKILL, and waits for the exit. */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }
}

/** `INFO memory`'s used_memory (bytes) of the server on `port`. */
export async function usedMemory(port: number): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    sock.setTimeout(5000, () => {
      sock.destroy();
      reject(new Error('INFO timed out'));
    });
    sock.once('error', reject);
    sock.on('data', (d) => {
      got += d.toString();
      // A bulk reply: "$<length>\r\n<body>\r\n".
      const m = /^\$(\d+)\r\n/.exec(got);
      if (m && Buffer.byteLength(got) >= m[0].length + Number(m[1]) + 2) {
        sock.destroy();
        resolve(got);
      }
    });
    sock.once('connect', () => sock.write('INFO memory\r\n'));
  });
  const m = /^used_memory:(\d+)/m.exec(text);
  if (!m) throw new Error('no used_memory in INFO');
  return Number(m[1]);
}
