import { test } from 'uvu';
import * as assert from 'uvu/assert';
import process from 'node:process';
import { isTrineError } from '../../src/crypto/index.ts';
import { LogStore, type LogEntry } from '../../src/storage/log.ts';
import { SimFs, prng } from '../../src/storage/sim-fs.ts';
import type { FileSystem } from '../../src/storage/fs.ts';

const KEY = new Uint8Array(32).fill(7);
const DIR = '/log';
const SEEDS = Number(process.env['STORAGE_SEEDS'] ?? 20);
const FIRST_SEED = Number(process.env['STORAGE_SEED'] ?? 1);

function entry(index: number, term: number, tag = 0): LogEntry {
  return { index, term, data: new TextEncoder().encode(`entry ${index} term ${term} tag ${tag}`) };
}
const text = (e: LogEntry) => `${e.index}/${e.term}/${new TextDecoder().decode(e.data)}`;
const all = (log: LogStore) => (log.lastIndex() >= log.firstIndex() ? log.entries(log.firstIndex(), log.lastIndex() + 1) : []).map(text);

test('appended entries read back, with terms, after reopen', async () => {
  const fs = new SimFs();
  let log = LogStore.open(DIR, { masterKey: KEY, fs });
  await log.append([entry(1, 1), entry(2, 1)]);
  await log.append([entry(3, 2)]);
  assert.is(log.lastIndex(), 3);
  assert.is(log.term(3), 2);
  await log.close();
  log = LogStore.open(DIR, { masterKey: KEY, fs });
  assert.equal(all(log), [entry(1, 1), entry(2, 1), entry(3, 2)].map(text));
  assert.is(log.term(2), 1);
  assert.is(log.recovery.droppedBytes, 0);
  await assert.not.throws(() => log.append([entry(4, 2)]));
  await log.append([entry(4, 2)]).then(() => assert.unreachable('duplicate index accepted'), (e) => assert.ok(isTrineError(e, 'STORAGE_LOG_GAP')));
});

test('group commit: many concurrent appends share few fsyncs', async () => {
  const fs = new SimFs();
  let syncs = 0;
  const counting: FileSystem = Object.create(fs);
  counting.open = (p, m) => {
    const h = fs.open(p, m);
    const orig = h.syncAsync.bind(h);
    h.syncAsync = () => { syncs++; return orig(); };
    return h;
  };
  const log = LogStore.open(DIR, { masterKey: KEY, fs: counting });
  const ps: Promise<void>[] = [];
  for (let i = 1; i <= 200; i++) ps.push(log.append([entry(i, 1)]));
  await Promise.all(ps);
  assert.ok(syncs <= 3, `200 appends took ${syncs} fsyncs`);
  assert.is(log.lastIndex(), 200);
});

test('a torn last record is dropped and reported; earlier records survive', async () => {
  const fs = new SimFs();
  const log = LogStore.open(DIR, { masterKey: KEY, fs });
  await log.append([entry(1, 1), entry(2, 1)]);
  await log.append([entry(3, 1)]);
  await log.close();
  const [path, bytes] = [...fs.files()].find(([p, b]) => p.endsWith('.seg') && b.length > 256)!;
  fs.tamper(path, bytes.subarray(0, bytes.length - 5));
  const re = LogStore.open(DIR, { masterKey: KEY, fs });
  assert.is(re.lastIndex(), 2);
  assert.ok(re.recovery.droppedBytes > 0, 'drop reported');
  assert.match(re.recovery.detail ?? '', /torn/);
  await re.append([entry(3, 2)]);
  await re.close();
  assert.equal(all(LogStore.open(DIR, { masterKey: KEY, fs })), [entry(1, 1), entry(2, 1), entry(3, 2)].map(text));
});

test('suffix truncation replaces conflicting entries; prefix truncation discards old ones; hard state persists', async () => {
  const fs = new SimFs();
  let log = LogStore.open(DIR, { masterKey: KEY, fs, segmentBytes: 600 });
  for (let i = 1; i <= 30; i += 3) await log.append([entry(i, 1), entry(i + 1, 1), entry(i + 2, 1)]);
  log.truncateSuffix(17);
  assert.is(log.lastIndex(), 16);
  await log.append([entry(17, 2), entry(18, 2)]);
  log.truncatePrefix(10);
  assert.is(log.firstIndex(), 10);
  assert.is(log.term(9), undefined);
  log.saveHardState(new Uint8Array([1, 2, 3]));
  const expect = all(log);
  await log.close();
  log = LogStore.open(DIR, { masterKey: KEY, fs, segmentBytes: 600 });
  assert.equal(all(log), expect);
  assert.is(log.firstIndex(), 10);
  assert.equal([...log.hardState()!], [1, 2, 3]);
  // A snapshot past the end empties the log; appends continue after it.
  log.truncatePrefix(100);
  assert.is(log.lastIndex(), 99);
  await log.append([entry(100, 3)]);
  await log.close();
  log = LogStore.open(DIR, { masterKey: KEY, fs });
  assert.equal(all(log), [text(entry(100, 3))]);
  assert.ok(fs.list(DIR).filter((n) => n.endsWith('.seg')).length <= 2, 'old segments deleted');
});

test('wrong master key: clear error, nothing on disk changed; passphrase keys and rekey work', async () => {
  const fs = new SimFs();
  const pass = { passphrase: 'correct horse', scrypt: { N: 1024, r: 8, p: 1 } };
  const log = LogStore.open(DIR, { masterKey: pass, fs });
  await log.append([entry(1, 1)]);
  await log.close();
  const before = fs.files();
  for (const k of [{ passphrase: 'wrong', scrypt: pass.scrypt }, KEY]) {
    try { LogStore.open(DIR, { masterKey: k, fs }); assert.unreachable('opened with a wrong key'); } catch (e) {
      assert.ok(isTrineError(e, 'STORAGE_WRONG_KEY'), String(e));
      assert.match((e as Error).message, /nothing was changed/);
    }
  }
  assert.equal(fs.files(), before);
  const re = LogStore.open(DIR, { masterKey: pass, fs });
  const segBefore = [...fs.files()].filter(([p]) => p.endsWith('.seg')).map(([p, b]) => [p, b.subarray(256)] as const);
  re.rekey(KEY);
  for (const [p, body] of segBefore) assert.equal(fs.files().get(p)!.subarray(256), body, 'rekey leaves data untouched');
  await re.close();
  assert.throws(() => LogStore.open(DIR, { masterKey: pass, fs }), (e: unknown) => isTrineError(e, 'STORAGE_WRONG_KEY'));
  assert.equal(all(LogStore.open(DIR, { masterKey: KEY, fs })), [text(entry(1, 1))]);
});

test('unsynced appends across full segments: any crash reopens to a prefix (a segment is durable before the next links it)', async () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const fs = new SimFs();
    const log = LogStore.open(DIR, { masterKey: KEY, fs, segmentBytes: 400 });
    const es = Array.from({ length: 30 }, (_, i) => entry(i + 1, 1, seed));
    // Hard state saved among unsynced appends records how far the log is durable, not how far it is written.
    for (const e of es) {
      await log.append([e], { sync: false });
      log.saveHardState(new Uint8Array([e.index]));
    }
    assert.ok(fs.list(DIR).filter((n) => n.endsWith('.seg')).length >= 4, 'several segments started');
    for (let k = 0; k < 10; k++) {
      let re: LogStore;
      try { re = LogStore.open(DIR, { masterKey: KEY, fs: fs.afterCrash(prng(seed * 100 + k)) }); } catch (e) { assert.unreachable(`seed ${seed} crash ${k}: ${e}`); return; }
      const got = all(re);
      assert.equal(got, es.slice(0, got.length).map(text), `seed ${seed} crash ${k}`);
    }
    await log.close();
  }
});

test('a prefix truncation past the end deletes the segment LOGMETA named only once a newer link is durable', async () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const fs = new SimFs();
    const log = LogStore.open(DIR, { masterKey: KEY, fs });
    for (let i = 1; i <= 5; i++) await log.append([entry(i, 1, seed)]);
    log.saveHardState(new Uint8Array([1]));
    log.truncatePrefix(100);
    for (let k = 0; k < 10; k++) {
      let re: LogStore;
      try { re = LogStore.open(DIR, { masterKey: KEY, fs: fs.afterCrash(prng(seed * 100 + k)) }); } catch (e) { assert.unreachable(`seed ${seed} crash ${k}: ${e}`); return; }
      assert.is(re.firstIndex(), 100);
      assert.equal(all(re), []);
    }
    await log.close();
  }
});

test('unsynced appends mixed with truncations and hard state: a power cut after any step reopens (no false corruption)', async () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const rng = prng(seed);
    const fs = new SimFs();
    let log = LogStore.open(DIR, { masterKey: KEY, fs, segmentBytes: 450 });
    const written = new Set<string>();
    let term = 1;
    for (let step = 0; step < 40; step++) {
      const r = rng();
      if (r < 0.6) {
        const es = Array.from({ length: 1 + Math.floor(rng() * 3) }, (_, i) => entry(log.lastIndex() + 1 + i, term, seed));
        for (const e of es) written.add(text(e));
        const p = log.append(es, { sync: rng() < 0.5 });
        if (rng() < 0.5) await p;
      } else if (r < 0.72 && log.lastIndex() >= log.firstIndex()) {
        term++;
        log.truncateSuffix(log.lastIndex() - Math.floor(rng() * 4));
      } else if (r < 0.8) {
        log.truncatePrefix(log.firstIndex() + Math.floor(rng() * 5));
      } else if (r < 0.95) {
        log.saveHardState(new Uint8Array([step]));
      } else {
        await log.close();
        log = LogStore.open(DIR, { masterKey: KEY, fs, segmentBytes: 450 });
      }
      for (let k = 0; k < 3; k++) {
        let re: LogStore;
        try { re = LogStore.open(DIR, { masterKey: KEY, fs: fs.afterCrash(prng(seed * 1000 + step * 10 + k)) }); } catch (e) { assert.unreachable(`seed ${seed} step ${step} crash ${k}: ${e}`); return; }
        for (const t of all(re)) assert.ok(written.has(t), `seed ${seed} step ${step}: ${t} was never written`);
      }
    }
    await log.close();
  }
});

test('crash at every point: reopen holds exactly the durable prefix, from the acknowledged first index', async () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + SEEDS; seed++) {
    const replay = `STORAGE_SEED=${seed} STORAGE_SEEDS=1 node --import tsx tests/storage/log.test.ts`;
    // Count the operations of a clean run, then crash at each of them.
    const script = (rng: () => number) => {
      const ops: ({ t: 'append'; n: number } | { t: 'suffix'; back: number } | { t: 'prefix'; fwd: number } | { t: 'reopen' })[] = [];
      for (let i = 0; i < 25; i++) {
        const r = rng();
        // Reopening starts a segment linked to the last one, as a full segment and a suffix truncation do.
        ops.push(r < 0.7 ? { t: 'append', n: 1 + Math.floor(rng() * 4) } : r < 0.85 ? { t: 'suffix', back: Math.floor(rng() * 5) } : r < 0.93 ? { t: 'prefix', fwd: Math.floor(rng() * 4) } : { t: 'reopen' });
      }
      return ops;
    };
    const ops = script(prng(seed));
    /**
     * What a reopen may find. Once an operation returned, the log holds exactly `acked` from
     * `ackFirst`. The operation a crash cut may have happened or not: an append may have left any
     * prefix of its entries; a truncation leaves either `acked` from `ackFirst` (not done; a suffix
     * truncation may also have cut part of what it removes) or `model` from `first` (done).
     */
    const run = async (fs: SimFs, crashAt: number) => {
      let model: LogEntry[] = [];
      let first = 1;
      let acked: LogEntry[] = [];
      let ackFirst = 1;
      let cut: 'suffix' | 'prefix' | undefined;
      let log: LogStore;
      try {
        log = LogStore.open(DIR, { masterKey: KEY, fs, segmentBytes: 500 });
        fs.crashAt(crashAt, prng(seed * 1000 + crashAt));
        let term = 1;
        for (const op of ops) {
          if (op.t === 'append') {
            const start = model.length ? model[model.length - 1]!.index + 1 : first;
            const es = Array.from({ length: op.n }, (_, i) => entry(start + i, term, seed));
            model = [...model, ...es];
            await log.append(es);
          } else if (op.t === 'suffix' && model.length) {
            const at = Math.max(first, model[model.length - 1]!.index - op.back + 1);
            model = model.filter((e) => e.index < at);
            term++;
            cut = 'suffix';
            log.truncateSuffix(at);
          } else if (op.t === 'prefix' && model.length) {
            const at = model[0]!.index + op.fwd;
            model = model.filter((e) => e.index >= at);
            first = Math.max(first, at);
            cut = 'prefix';
            log.truncatePrefix(at);
          } else if (op.t === 'reopen') {
            log.saveHardState(new Uint8Array([term]));
            await log.close();
            log = LogStore.open(DIR, { masterKey: KEY, fs, segmentBytes: 500 });
          }
          acked = model; ackFirst = first; cut = undefined;
        }
        await log.close();
        return { done: true, model, first, acked, ackFirst, cut };
      } catch (e) {
        if ((e as Error).name !== 'SimCrash' && !((e as { cause?: Error }).cause?.name === 'SimCrash')) throw e;
        return { done: false, model, first, acked, ackFirst, cut };
      }
    };
    const clean = new SimFs();
    await run(clean, Infinity);
    const total = clean.ops;
    const isCrash = (e: unknown) => (e as Error).name === 'SimCrash' || (e as { cause?: Error }).cause?.name === 'SimCrash';
    for (let k = 1; k <= total; k++) {
      const fs = new SimFs();
      const r = await run(fs, k);
      if (r.done) continue;
      const from = (es: LogEntry[], at: number) => es.filter((e) => e.index >= at).map(text);
      const isPrefix = (g: string[], w: string[]) => g.length <= w.length && g.every((t, i) => t === w[i]);
      const acked = from(r.acked, r.ackFirst);
      const done = from(r.model, r.first);
      const reopen = (disk: SimFs, what: string): LogStore => {
        let log: LogStore;
        try { log = LogStore.open(DIR, { masterKey: KEY, fs: disk }); } catch (e) { assert.unreachable(`reopen failed at ${what}: ${e}; replay: ${replay}`); throw e; }
        const got = all(log);
        const f = log.firstIndex();
        let ok: boolean;
        if (r.cut === 'prefix') {
          ok = (f === r.ackFirst && got.join() === acked.join()) || (f === r.first && got.join() === done.join());
        } else if (r.cut === 'suffix') {
          // Open finishes a cut the crash interrupted, or drops a truncation that never reached
          // the disk: the log is as before it or as after it, never in between.
          ok = f === r.ackFirst && (got.join() === acked.join() || got.join() === done.join());
        } else {
          ok = f === r.ackFirst && isPrefix(got, done) && got.length >= acked.length;
        }
        assert.ok(ok, `${what}${r.cut ? ` during a ${r.cut} truncation` : ''}: log holds ${JSON.stringify(got)} from ${f}, acknowledged ${JSON.stringify(acked)} from ${r.ackFirst}, in progress ${JSON.stringify(done)} from ${r.first}; replay: ${replay}`);
        return log;
      };
      const disk = () => fs.afterCrash(prng(seed * 7919 + k));
      if (r.cut === 'suffix') {
        // The reopen's own writes, finishing the cut or dropping the truncation, cut at each step.
        const probe = disk();
        const first = reopen(probe, `crash point ${k}`);
        const opens = probe.ops;
        await first.close();
        for (let m = 1; m <= opens; m++) {
          const twice = disk();
          twice.crashAt(m, prng(m));
          try { LogStore.open(DIR, { masterKey: KEY, fs: twice }); } catch (e) { if (!isCrash(e)) throw e; }
          await reopen(twice.afterCrash(prng(seed * 31 + m)), `crash point ${k}, then reopen crash ${m}`).close();
        }
      }
      const log = reopen(disk(), `crash point ${k}`);
      await log.append([entry(log.lastIndex() + 1, 99)]);
      await log.close();
    }
  }
});

test.run();
