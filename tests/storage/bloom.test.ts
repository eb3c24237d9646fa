import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bloomMayContain, buildBloom, keyHash } from '../../src/storage/bloom.ts';

const key = (s: string) => new TextEncoder().encode(s);

test('bloom filter: no false negatives, about 1% false positives at 10 bits per key', () => {
  for (const n of [1, 10, 1000, 20000]) {
    const f = buildBloom(Array.from({ length: n }, (_, i) => keyHash(key(`in-${i}`))));
    for (let i = 0; i < n; i++) assert.ok(bloomMayContain(f, keyHash(key(`in-${i}`))), `false negative for key ${i} of ${n}`);
    let fp = 0;
    for (let i = 0; i < 20000; i++) if (bloomMayContain(f, keyHash(key(`out-${i}`)))) fp++;
    assert.ok(fp / 20000 < 0.03, `${n} keys: false-positive rate ${fp / 20000}`);
  }
});

test.run();
