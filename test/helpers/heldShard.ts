/**
 * A shard served through a named pipe at its path, so a test can hold the worker reading it in the
 * middle of the shard (a state to wait for, not a race): the first reader gets the first part and
 * waits; release() sends it the rest, abandon() drops it (its reader was killed). Every later reader
 * gets the whole shard, and after stop() the path is a plain file with the bytes again. The bytes are
 * the shard's own, so what is stored is what a plain file gives.
 */
import { execFileSync } from 'node:child_process';
import { constants, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export class HeldShard {
  /** True once the first reader has taken the first part. */
  held = false;
  private served = 0;
  private stopping = false;
  private detached = false;
  private settled = false;
  /** What the held reader gets once it is held: the rest (true) or nothing (false); undecided until told. */
  private decision?: boolean;
  private resume?: (rest: boolean) => void;
  private readonly loop: Promise<void>;

  constructor(
    readonly path: string,
    private readonly bytes: Buffer,
    private readonly cut = Math.floor(bytes.length / 2),
  ) {
    rmSync(path, { force: true });
    execFileSync('mkfifo', [path]);
    this.loop = this.serve().finally(() => (this.settled = true));
  }

  private async serve(): Promise<void> {
    while (!this.stopping) {
      const fh = await open(this.path, 'w');
      try {
        if (this.served++ === 0) {
          await fh.write(this.bytes.subarray(0, this.cut));
          this.held = true;
          const rest = this.decision ?? (await new Promise<boolean>((r) => (this.resume = r)));
          if (rest) await fh.write(this.bytes.subarray(this.cut));
        } else if (!this.stopping) {
          await fh.write(this.bytes);
        }
      } catch {
        // The reader went away (EPIPE): the next one gets the whole shard.
      } finally {
        await fh.close().catch(() => undefined);
      }
      if (this.stopping) break;
      await this.readerGone();
    }
  }

  /** Waits until nobody has the pipe open for reading: opened for writing before that, it would pair with the same reader again. */
  private async readerGone(): Promise<void> {
    for (;;) {
      try {
        await (await open(this.path, constants.O_WRONLY | constants.O_NONBLOCK)).close();
      } catch {
        return; // ENXIO: no reader
      }
      await sleep(10);
    }
  }

  /** The held reader gets the rest of the shard. */
  release(): void {
    this.decide(true);
  }

  /** The held reader is gone: its pipe is closed without the rest. */
  abandon(): void {
    this.decide(false);
  }

  private decide(rest: boolean): void {
    this.decision ??= rest;
    this.resume?.(this.decision);
  }

  /**
   * At once, while a reader is held: that reader is dropped and the path becomes the plain shard file,
   * so no later reader can meet the held one on the pipe. Synchronous, for event handlers that must act
   * before anything else runs.
   */
  detach(): void {
    if (!this.held) throw new Error(`HeldShard ${this.path}: detach() needs a held reader`);
    this.stopping = true;
    this.detached = true;
    this.decide(false);
    rmSync(this.path, { force: true });
    writeFileSync(this.path, this.bytes);
  }

  async stop(): Promise<void> {
    if (this.detached) return this.loop;
    this.stopping = true;
    this.decide(false);
    // A writer blocked in open() waits for a reader: be that reader, then close.
    while (!this.settled) {
      await open(this.path, constants.O_RDONLY | constants.O_NONBLOCK).then((fh) => fh.close(), () => undefined);
      await sleep(10);
    }
    await this.loop;
    // The shard is a plain file again, for whoever reads it next.
    rmSync(this.path, { force: true });
    writeFileSync(this.path, this.bytes);
  }
}
