/**
 * Ctrl-C (SIGINT) and SIGTERM for a command that stops in its own way (a submitter stops following,
 * a worker finishes the shards in hand), instead of Node's immediate exit.
 */
export async function handlingInterrupts<T>(onInterrupt: () => void, run: () => Promise<T>): Promise<T> {
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    return await run();
  } finally {
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}
