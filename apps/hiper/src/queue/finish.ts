// Finishing a job in one step on the Redis side: its writes (the result, the job put back for
// another try, the dead-letter entry) and its acknowledgement, atomically, and only while the
// entry is still pending. So no job is acknowledged without what it came to, and a job that two
// workers both ran (one was presumed dead and its job claimed) has its outcome written once: the
// second finisher finds it acknowledged and writes nothing.
import type { Redis, Result } from 'ioredis';

/**
 * KEYS: the job stream, then the streams written to. ARGV: the group, the entry id, then per
 * write: the index of its stream in KEYS, the number of field/value items, the items.
 * Returns 1 when it wrote and acknowledged, 0 when the entry was no longer pending.
 */
const FINISH = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1) == 0 then return 0 end
local i = 3
while i <= #ARGV do
  local n = tonumber(ARGV[i + 1])
  redis.call('XADD', KEYS[tonumber(ARGV[i])], '*', unpack(ARGV, i + 2, i + 1 + n))
  i = i + 2 + n
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    hiperFinish(numKeys: number, ...args: string[]): Result<number, Context>;
  }
}

/** Adds the command to a connection (ioredis loads the script again after a Redis restart). */
export function defineFinish(redis: Redis): void {
  redis.defineCommand('hiperFinish', { lua: FINISH });
}

export interface Write {
  stream: string;
  fields: string[];
}

/** Writes `writes` and acknowledges `entryId`; false when it was already acknowledged. */
export async function finish(
  redis: Redis,
  jobStream: string,
  group: string,
  entryId: string,
  writes: Write[],
): Promise<boolean> {
  const keys = [jobStream, ...writes.map((w) => w.stream)];
  const args = [group, entryId];
  writes.forEach((w, i) => {
    args.push(String(i + 2), String(w.fields.length), ...w.fields);
  });
  return (await redis.hiperFinish(keys.length, ...keys, ...args)) === 1;
}
