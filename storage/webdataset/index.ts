export { type ClassEntry, type ClassMap, type ClassMatch, classMapFrom, describeMiss, loadClassMap, WNID } from './classes.js';
export { type MemberInfo, type ReadOptions, type SkipInfo, readNamedSamples, readSamples, splitMemberName, tarBytes } from './reader.js';
export { IMAGE_EXTENSIONS, type WdsSample, requireImage, sampleClass, sampleImage } from './sample.js';
export { type ShardSpec, type SplitOptions, braceExpand, expandShards, glob, splitShards } from './urls.js';
export { type SampleToWrite, ShardWriter, type ShardWriterOptions, formatShardName } from './writer.js';
