#!/usr/bin/env node
// Runs every tests/**/*.test.ts file in its own process (isolation, and both cores busy),
// on Node (through tsx), Bun or Deno, and prints one closing line: "N passed, N failed".
//
//   node tools/run-tests.mjs [--runtime node|bun|deno] [--jobs N] [paths...]
//
// A path may be a folder (searched recursively) or a file. Environment is passed through,
// so e.g. SIM_SEEDS=2000 npm test widens the simulator search.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';

const FILE_TIMEOUT_MS = 15 * 60 * 1000;

const args = process.argv.slice(2);
let runtime = 'node';
let jobs = 2;
const paths = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--runtime') runtime = args[++i];
  else if (args[i] === '--jobs') jobs = Number(args[++i]);
  else paths.push(args[i]);
}
if (paths.length === 0) paths.push('tests');

function collect(p, out) {
  const st = statSync(p);
  if (st.isDirectory()) {
    for (const name of readdirSync(p).sort()) collect(join(p, name), out);
  } else if (/\.test\.ts$/.test(p)) out.push(p);
  return out;
}
const files = paths.flatMap((p) => collect(p, []));

function command(file) {
  switch (runtime) {
    case 'node': return [process.execPath, ['--import', 'tsx', file]];
    case 'bun': return [process.execPath.includes('bun') ? process.execPath : 'bun', [file]];
    case 'deno': return [process.execPath.includes('deno') ? process.execPath : 'deno', ['run', '-A', file]];
    default: throw new Error(`unknown runtime ${runtime}: use node, bun or deno`);
  }
}

let passed = 0, failed = 0, skipped = 0;
const failures = [];

function runOne(file) {
  return new Promise((resolve) => {
    const [cmd, argv] = command(file);
    const started = Date.now();
    const child = spawn(cmd, argv, { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { out += d; });
    const timer = setTimeout(() => { out += `\n[run-tests] ${file} timed out after ${FILE_TIMEOUT_MS} ms\n`; child.kill('SIGKILL'); }, FILE_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      const num = (label) => { const m = out.match(new RegExp(`${label}:\\s+(\\d+)`)); return m ? Number(m[1]) : 0; };
      const total = num('Total'), ok = num('Passed'), skip = num('Skipped');
      let bad = total - ok; // uvu's Total leaves skipped tests out
      if (code !== 0 && bad === 0) bad = 1; // crashed before or outside uvu's tally
      if (total === 0 && code === 0) { bad = 1; out += '\n[run-tests] file ran no test\n'; }
      passed += ok; failed += bad; skipped += skip;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      const rel = relative(process.cwd(), file);
      if (bad > 0) {
        failures.push(rel);
        process.stdout.write(`FAIL ${rel} (${secs}s)\n${out}\n`);
      } else {
        process.stdout.write(`ok   ${rel}: ${ok} passed${skip ? `, ${skip} skipped` : ''} (${secs}s)\n`);
      }
      resolve();
    });
  });
}

const queue = files.slice();
await Promise.all(Array.from({ length: Math.max(1, jobs) }, async () => {
  while (queue.length) await runOne(queue.shift());
}));

if (failures.length) process.stdout.write(`\nfailed files:\n  ${failures.join('\n  ')}\n`);
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed > 0 || files.length === 0 ? 1 : 0);
