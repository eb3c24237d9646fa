/**
 * `trine sql [HOST:PORT]`: an interactive SQL shell (or `-c "SQL"` for scripts). Statements end
 * with `;`; results print as a table, as sqlite3's `.mode table` does.
 */
import { createInterface } from 'node:readline';
import process from 'node:process';
import { TrineError } from '../crypto/errors.ts';
import { connect, type QueryResult, type SqlValue, type TrineClient } from '../client/client.ts';
import { CONSISTENCIES, type Consistency } from '../server/protocol.ts';
import { clientOptions, defaultAddress, type ClientFlags } from './node-commands.ts';

export function formatValue(v: SqlValue): string {
  if (v === null) return 'NULL';
  if (v instanceof Uint8Array) return `x'${Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('')}'`;
  return String(v);
}

/** The result as lines of a bordered table, then a row count (or the change count for writes). */
export function formatResult(r: QueryResult): string[] {
  if (r.columns.length === 0) return [r.changes ? `OK, ${r.changes} row${r.changes === 1 ? '' : 's'} changed` : 'OK'];
  const cells = r.rows.map((row) => row.map(formatValue));
  const widths = r.columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (vals: string[], numeric?: boolean[]) => `| ${vals.map((v, i) => (numeric?.[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | ')} |`;
  const out = [rule, line(r.columns), rule];
  for (let j = 0; j < cells.length; j++) out.push(line(cells[j]!, r.rows[j]!.map((v) => typeof v === 'number' || typeof v === 'bigint')));
  out.push(rule, `(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})`);
  return out;
}

/** True when `sql` ends with a `;` outside quotes and comments (the statement is complete). */
export function isComplete(sql: string): boolean {
  let last = '';
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"' || c === '`' || c === '[') {
      const close = c === '[' ? ']' : c;
      const j = sql.indexOf(close, i + 1);
      if (j < 0) return false;
      i = j; last = close; continue;
    }
    if (c === '-' && sql[i + 1] === '-') { const j = sql.indexOf('\n', i); if (j < 0) break; i = j; continue; }
    if (c === '/' && sql[i + 1] === '*') { const j = sql.indexOf('*/', i + 2); if (j < 0) return false; i = j + 1; continue; }
    if (!/\s/.test(c)) last = c;
  }
  return last === ';';
}

export interface SqlFlags extends ClientFlags { command?: string }

export async function sqlCommand(address: string | undefined, flags: SqlFlags): Promise<void> {
  const target = address ?? defaultAddress();
  if (flags.consistency && !CONSISTENCIES.includes(flags.consistency as Consistency)) {
    throw new TrineError('CLI_BAD_CONSISTENCY', `unknown consistency "${flags.consistency}"; use ${CONSISTENCIES.join(', ')}`);
  }
  const c = await connect({ ...clientOptions(target, flags), ...(flags.consistency ? { consistency: flags.consistency as Consistency } : {}) });
  try {
    if (flags.command !== undefined) {
      for (const l of formatResult(await c.query(flags.command))) process.stdout.write(`${l}\n`);
      return;
    }
    await repl(c, target);
  } finally {
    await c.close();
  }
}

async function repl(c: TrineClient, target: string): Promise<void> {
  const tty = process.stdin.isTTY === true;
  if (tty) process.stdout.write(`Connected to node ${c.node} at ${target} as ${c.user} (${c.role}). End statements with ";", ".quit" leaves.\n`);
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: tty, prompt: 'trine> ' });
  let buf = '';
  let failed = false;
  if (tty) rl.prompt();
  for await (const line of rl) {
    if (buf === '' && line.trim().startsWith('.')) {
      const cmd = line.trim();
      if (cmd === '.quit' || cmd === '.exit') break;
      if (cmd === '.tables') await run(c, "SELECT name FROM sqlite_master WHERE type IN ('table','view') ORDER BY name");
      else if (cmd === '.help') process.stdout.write('.tables  list tables\n.quit    leave\nAnything else is SQL, ended by ";".\n');
      else process.stdout.write(`unknown command ${cmd}; try .help\n`);
      if (tty) rl.prompt();
      continue;
    }
    buf += (buf ? '\n' : '') + line;
    if (isComplete(buf)) {
      failed = !(await run(c, buf)) || failed;
      buf = '';
    }
    if (tty) { rl.setPrompt(buf ? '  ...> ' : 'trine> '); rl.prompt(); }
  }
  if (buf.trim()) failed = !(await run(c, buf)) || failed;
  rl.close();
  if (failed && !tty) process.exitCode = 1;
}

async function run(c: TrineClient, sql: string): Promise<boolean> {
  try {
    for (const l of formatResult(await c.query(sql))) process.stdout.write(`${l}\n`);
    return true;
  } catch (e) {
    if (!(e instanceof TrineError)) throw e;
    process.stderr.write(`Error: ${e.message} [${e.code}]\n`);
    return false;
  }
}
