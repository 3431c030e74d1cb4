/**
 * A private redis-server for a test or the bench: Debian's binary as a child process, on a unix
 * socket in a temp folder (no port to race for), no persistence, noeviction as BullMQ requires.
 * CI installs it (.ci/run); tests that start one declare needs('redis').
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** The binary: redis-server on PATH, or DDPS_REDIS_SERVER. */
export const REDIS_SERVER = process.env.DDPS_REDIS_SERVER ?? 'redis-server';

export interface RedisServer {
  /** unix:///.../r.sock */
  url: string;
  socket: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'ddps-redis-'));
  const socket = join(dir, 'r.sock');
  const args = ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--dir', dir, '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'];
  const child = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = once(child, 'close');
  let gone: string | undefined;
  child.on('error', (e) => (gone = `cannot start ${REDIS_SERVER} (apt-get install redis-server; .ci/run does): ${e.message}`));
  void exited.then(() => (gone ??= `${REDIS_SERVER} exited before listening on ${socket}`));
  // The socket appears once the server listens on it.
  while (!existsSync(socket)) {
    if (gone !== undefined) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(gone);
    }
    await sleep(20);
  }
  return {
    url: `unix://${socket}`,
    socket,
    async stop() {
      if (gone === undefined) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
