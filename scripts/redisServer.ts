/**
 * A private redis-server for a test or the bench: Debian's binary as a child process, on a unix
 * socket in a temp folder (no port to race for), no persistence, noeviction as BullMQ requires.
 * CI installs it (.ci/run).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const REDIS_SERVER = process.env.DDPS_REDIS_SERVER ?? '/usr/bin/redis-server';

export interface RedisServer {
  /** unix:///.../r.sock */
  url: string;
  socket: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`this needs Debian's redis-server at ${REDIS_SERVER} (apt-get install redis-server; .ci/run does)`);
  const dir = mkdtempSync(join(tmpdir(), 'ddps-redis-'));
  const socket = join(dir, 'r.sock');
  const args = ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'exit');
  let gone = false;
  void exited.then(() => (gone = true));
  // The socket appears once the server listens on it.
  while (!existsSync(socket)) {
    if (gone) throw new Error(`${REDIS_SERVER} exited before listening on ${socket}`);
    await sleep(20);
  }
  return {
    url: `unix://${socket}`,
    socket,
    async stop() {
      if (!gone) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
