/** The tests' private redis-server (scripts/redisServer.ts, shared with the bench). */
export { REDIS_SERVER, startRedis, type RedisServer } from '../../scripts/redisServer.js';
