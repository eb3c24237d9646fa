/**
 * The engine's background thread (`thread.ts` starts it): runs flushes and compactions on the
 * real disk so that merging and sealing tables does not take turns with the engine's readers and
 * writers on the main thread.
 */
import { parentPort } from 'node:worker_threads';
import { type CompactionJob, type FlushJob, runCompactionJob, runFlushJob } from './compaction.ts';
import { nodeFs } from './fs.ts';

parentPort!.on('message', (msg: { id: number; job?: CompactionJob; flush?: FlushJob }) => {
  const work = msg.flush ? runFlushJob(nodeFs, msg.flush) : runCompactionJob(nodeFs, msg.job!);
  work.then(
    (metas) => parentPort!.postMessage({ id: msg.id, metas }),
    (e: unknown) => parentPort!.postMessage({ id: msg.id, error: String((e as Error)?.message ?? e), code: (e as { code?: string })?.code }),
  );
});
