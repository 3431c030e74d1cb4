/**
 * Where the queue lives: a Redis URL, parsed for ioredis, printed only without its credentials, and
 * connected to once up front so that an unreachable server is one clear error naming the URL.
 *
 *   redis://[user:password@]host[:port][/db]      (rediss:// for TLS; port 6379, db 0 by default)
 *   unix:///path/to/redis.sock[?db=N]              (a local socket; also redis+unix://)
 *
 * After the first connection, a dropped one is retried for ever with backoff (BullMQ's advice for
 * workers): a Redis restart pauses the work instead of ending it.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { DdpsError } from '../core/errors.js';

/** A parsed queue URL: ioredis options, how to print it, and the secrets never to print. */
export interface QueueAddress {
  /** The URL with any password replaced by ***: the only form of it ever printed. */
  display: string;
  options: RedisOptions;
  /** Strings that must never appear in output (the password). */
  secrets: string[];
}

const USAGE = 'expected redis://[user:password@]host[:port][/db], rediss://... or unix:///path/to/redis.sock[?db=N]';

/** The URL with the password (in the user part or a `password=` parameter) replaced by ***. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z+]+:\/\/[^:@/]*):[^@/]*@/i, '$1:***@').replace(/([?&]password=)[^&]*/i, '$1***');
}

/** Parses redis://, rediss:// (TLS) or unix:// queue URLs; a bad one is a BAD_ARGUMENT naming it (password hidden). */
export function parseQueueUrl(url: string): QueueAddress {
  const display = redactUrl(url);
  const bad = (what: string): never => {
    throw new DdpsError('BAD_ARGUMENT', `queue URL ${display}: ${what}; ${USAGE}`);
  };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return bad('not a URL');
  }
  const password = u.password ? decodeURIComponent(u.password) : (u.searchParams.get('password') ?? undefined);
  const username = u.username ? decodeURIComponent(u.username) : undefined;
  const dbText = u.protocol === 'unix:' || u.protocol === 'redis+unix:' ? (u.searchParams.get('db') ?? '0') : u.pathname.replace(/^\//, '') || '0';
  const db = Number(dbText);
  if (!Number.isInteger(db) || db < 0) bad(`database "${dbText}" is not a number`);
  const auth = { ...(username ? { username } : {}), ...(password ? { password } : {}) };
  let options: RedisOptions;
  switch (u.protocol) {
    case 'redis:':
    case 'rediss:': {
      if (!u.hostname) bad('no host');
      const port = u.port ? Number(u.port) : 6379;
      options = { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port, db, ...auth, ...(u.protocol === 'rediss:' ? { tls: {} } : {}) };
      break;
    }
    case 'unix:':
    case 'redis+unix:':
      if (!u.pathname || u.pathname === '/') bad('no socket path');
      options = { path: decodeURIComponent(u.pathname), db, ...auth };
      break;
    default:
      return bad(`unknown scheme ${u.protocol}`);
  }
  return { display, options, secrets: password ? [password, encodeURIComponent(password)] : [] };
}

/** A message with every secret of the address replaced by ***. */
export function scrub(address: QueueAddress, message: string): string {
  return address.secrets.reduce((m, s) => (s ? m.split(s).join('***') : m), message);
}

export interface ConnectOptions {
  /** Errors after the first connection (reconnect attempts); they are retried whatever this does. */
  onError?: (message: string) => void;
}

/**
 * An ioredis client connected to `address`, or a QUEUE_UNREACHABLE error naming the URL (without
 * credentials) and the cause. `maxRetriesPerRequest: null` as BullMQ requires: a command waits for
 * the connection to come back instead of failing.
 */
export async function connectRedis(address: QueueAddress, opts: ConnectOptions = {}): Promise<Redis> {
  let connected = false;
  const redis = new Redis({
    ...address.options,
    lazyConnect: true,
    maxRetriesPerRequest: null,
    connectTimeout: 10_000,
    // Before the first connection a failure is final (reported below); after it, retry for ever.
    retryStrategy: (times) => (connected ? Math.min(1000 * times, 20_000) : null),
  });
  // Before the first connection, the socket's own error (ECONNREFUSED, ENOENT...) says why; connect() only says "closed".
  let firstError: Error | undefined;
  redis.on('error', (e: Error) => {
    if (connected) opts.onError?.(scrub(address, e.message));
    else firstError ??= e;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (e) {
    redis.disconnect();
    const cause = firstError ?? e;
    const reason = scrub(address, cause instanceof Error ? cause.message : String(cause)).replace(/\.$/, '');
    throw new DdpsError('QUEUE_UNREACHABLE', `cannot reach Redis at ${address.display}: ${reason}. Is redis-server running there, and is the URL right?`, { cause: e });
  }
  connected = true;
  return redis;
}
