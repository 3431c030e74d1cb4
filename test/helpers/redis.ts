/** The tests' private redis-server (scripts/redisServer.ts, shared with the bench). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startRedis, type RedisServer } from '../../scripts/redisServer.js';

export { REDIS_SERVER, startRedis, type RedisServer } from '../../scripts/redisServer.js';

/** One redis-server for a test file, started by the first test that asks: a file whose tests are all left out (needs('redis')) starts none. */
export interface LazyRedis {
  server(): Promise<RedisServer>;
  /** Stops it if it was started (for test.after.always). */
  stop(): Promise<void>;
}

export function lazyRedis(): LazyRedis {
  let started: Promise<RedisServer> | undefined;
  return {
    server: () => (started ??= startRedis()),
    async stop() {
      const server = await started?.catch(() => undefined);
      await server?.stop();
    },
  };
}

let queues = 0;

/** A queue name of its own and a folder `<scratch>/<name>` for one test: the tests of a file share one redis-server. */
export function freshQueue(scratch: string, name: string): { queueName: string; dir: string } {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  return { queueName: `q${++queues}`, dir };
}
