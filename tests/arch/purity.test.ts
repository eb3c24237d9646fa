/**
 * The sans-I/O rule, checked: the pure cores (noise, the net protocol, the Raft core) never read a
 * clock, draw randomness, arm timers or touch sockets and files. Time and randomness come in as
 * arguments; only the named driver files hold the I/O.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The drivers: the only files of these layers allowed to do I/O (docs/ARCHITECTURE.md). */
const DRIVERS = new Set([
  'src/net/udp.ts',            // node:dgram sockets and timers for the protocol core
  'src/net/trust.ts',          // trust on first use: asks a person, reads known_hosts
  'src/raft/driver.ts',        // ticks, the durable log, the transport
  'src/raft/net-transport.ts', // dials peers, backs off between attempts
]);

const FORBIDDEN: [RegExp, string][] = [
  [/\bDate\.now\s*\(/, 'reads the clock'],
  [/\bperformance\.(now|timeOrigin)\b/, 'reads the clock'],
  [/\bprocess\.hrtime\b/, 'reads the clock'],
  [/\bMath\.random\s*\(/, 'draws randomness'],
  [/\b(randomBytes|randomFillSync|getRandomValues)\s*\(/, 'draws randomness'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\s*\(/, 'arms a timer'],
  [/from\s+['"]node:(dgram|net|fs|fs\/promises|child_process|worker_threads)['"]/, 'does I/O'],
];

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

test('noise, net and raft cores do no I/O and read no clock or randomness outside their drivers', () => {
  const offences: string[] = [];
  let checked = 0;
  for (const layer of ['src/noise', 'src/net', 'src/raft']) {
    for (const name of readdirSync(layer)) {
      const path = join(layer, name);
      if (!name.endsWith('.ts') || DRIVERS.has(path)) continue;
      checked++;
      stripComments(readFileSync(path, 'utf8')).split('\n').forEach((line, i) => {
        for (const [re, what] of FORBIDDEN) if (re.test(line)) offences.push(`${path}:${i + 1} ${what}: ${line.trim()}`);
      });
    }
  }
  assert.ok(checked >= 15, `only ${checked} core files found; did the layout change?`);
  assert.equal(offences, [], `pass time and randomness in from a driver instead:\n${offences.join('\n')}`);
});

test('every named driver file exists (a renamed driver must be renamed here too)', () => {
  for (const d of DRIVERS) assert.ok(readFileSync(d, 'utf8').length > 0, d);
});

test.run();
