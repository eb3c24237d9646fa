/** Every size and count limit of the storage layer, in one place. */

/** Target plaintext size of a table data block before it is sealed. */
export const BLOCK_BYTES = 4096;
/** Entries between restart points inside a block (each restart stores its key whole). */
export const RESTART_INTERVAL = 16;
/** Bloom filter bits per key; 10 gives about a 1% false-positive rate with 7 probes. */
export const BLOOM_BITS_PER_KEY = 10;
/** A memtable is frozen and flushed once its keys and values take this many bytes. */
export const MEMTABLE_BYTES = 8 << 20;
/** Compaction output files are cut near this size (only between two user keys). */
export const TABLE_BYTES = 4 << 20;
/**
 * Level 0 is compacted into level 1 once it holds this many files. Higher than LevelDB's 4: with
 * random keys every level-0 compaction rewrites all of level 1, so merging more files at once
 * cuts write amplification (2.7 instead of 4.3 for 1M random puts); bloom filters keep the extra
 * level-0 files cheap for point reads.
 */
export const L0_COMPACTION_TRIGGER = 8;
/** `throttle()` holds writers back while level 0 has this many files (RocksDB's slowdown trigger)... */
export const L0_STALL_FILES = 20;
/** ...or while this many frozen memtables wait for their flush. */
export const MAX_IMMUTABLE_MEMTABLES = 2;
/** Target bytes of level 1; each deeper level may hold LEVEL_MULTIPLIER times more. */
export const L1_BYTES = 64 << 20;
export const LEVEL_MULTIPLIER = 10;
/** Levels 0..MAX_LEVELS-1. */
export const MAX_LEVELS = 7;
/**
 * Default byte limit of the block cache (plaintext blocks): a quarter of the machine's memory,
 * within [CACHE_MIN_BYTES, CACHE_MAX_BYTES], as TiKV, WiredTiger and CockroachDB size theirs. It is
 * a limit, not an allocation: the cache holds only blocks that were read. Data is encrypted at rest,
 * so the operating system's page cache holds only sealed blocks, and each block read past this
 * cache pays an AEAD open (about 13 us for 4 KiB here): the cache is where plaintext stays warm.
 */
export const CACHE_FRACTION = 0.25;
export const CACHE_MIN_BYTES = 64 << 20;
export const CACHE_MAX_BYTES = 16 * 2 ** 30;
export function defaultCacheBytes(totalMemory: number): number {
  return Math.floor(Math.min(CACHE_MAX_BYTES, Math.max(CACHE_MIN_BYTES, totalMemory * CACHE_FRACTION)));
}
/** Entries a flush or compaction processes before it yields to the event loop. */
export const SLICE_ENTRIES = 4096;
/** A log segment is closed and a new one started past this size. */
export const LOG_SEGMENT_BYTES = 32 << 20;
/** Largest sealed log record accepted when reading (guards against a garbage length prefix). */
export const LOG_RECORD_MAX = 256 << 20;
/** Decoded log records kept in memory for reads of the recent tail (Raft replication). */
export const LOG_CACHE_RECORDS = 256;
/** Bytes of every file header (magic, kind, file id, two wrapped-key slots). */
export const HEADER_BYTES = 256;
/** Default scrypt cost for passphrase-derived master keys (2^15, r 8, p 1: about 32 MiB, ~0.1 s). */
export const SCRYPT_DEFAULT = { N: 1 << 15, r: 8, p: 1 } as const;
/** Largest key and value the engine accepts. */
export const KEY_MAX_BYTES = 64 << 10;
export const VALUE_MAX_BYTES = 64 << 20;
/** Bytes a snapshot stream packs into one chunk. */
export const STREAM_CHUNK_BYTES = 256 << 10;
