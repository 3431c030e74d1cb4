/**
 * The WebDataset sink: each sample becomes consecutive tar members of the writer's current shard, in
 * input order (the writer rolls to a new shard by maxcount / maxsize). Close the writer after the
 * stream completes to finish the last shard.
 */
import type { OperatorFunction } from 'rxjs';
import type { SampleToWrite, ShardWriter } from '../storage/webdataset/index.js';
import { release, type Ticket } from './flow.js';
import { mapOrdered } from './mapOrdered.js';

/** What writeShards hands on for each sample written. */
export interface WrittenSample<T> {
  key: string;
  /** The item the sample was made from. */
  item: T;
}

/**
 * Writes `toSample(item)` for each item (default: the item itself, a SampleToWrite). A `ticket` field
 * is never written; a sample whose place a source still holds is released once written.
 */
export function writeShards<T extends object = SampleToWrite>(
  writer: ShardWriter,
  toSample: (item: T) => SampleToWrite = (item) => item as unknown as SampleToWrite,
): OperatorFunction<T, WrittenSample<T>> {
  return mapOrdered(async (item: T) => {
    const { ticket: _ticket, ...sample } = toSample(item);
    await writer.write(sample as SampleToWrite);
    release(item as { ticket?: Ticket });
    return { key: sample.__key__ as string, item };
  }, 1);
}
