/**
 * `trine init`, `trine start`, `trine cluster`, `trine status`: a node's life from the command line.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir, totalmem, userInfo } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { TrineError } from '../crypto/errors.ts';
import { fingerprint } from '../crypto/fingerprint.ts';
import { readPublicKey } from '../crypto/keys.ts';
import type { AuthorizedUser } from '../crypto/authorized-users.ts';
import { initCluster, initNode, isClusterDir, clusterNodeDirs, startNodes } from '../server/cluster.ts';
import { defaultNodeDir, nodePaths } from '../server/layout.ts';
import { DEFAULT_PORT } from '../server/limits.ts';
import { CACHE_MIN_BYTES, defaultCacheBytes } from '../storage/limits.ts';
import { TrineNode } from '../server/node.ts';
import { connect } from '../client/client.ts';
import { defaultKeyPath, keygenCommand, newPassphrase } from './keys.ts';
import { ask, askHidden } from './prompt.ts';

const say = (line: string) => process.stdout.write(`${line}\n`);

/** The local user's public key (~/.trine/id_trine.pub), created with `trine keygen` if missing. */
async function localAdmin(name?: string): Promise<AuthorizedUser> {
  const path = defaultKeyPath();
  if (!existsSync(path)) {
    say(`No key at ${path} yet; creating one (as \`trine keygen\` would).`);
    await keygenCommand({});
  }
  const { publicKey, comment } = await readPublicKey(existsSync(`${path}.pub`) ? `${path}.pub` : path);
  let user = name;
  if (!user) {
    try { user = userInfo().username.replace(/[^A-Za-z0-9_.-]/g, '_'); } catch { user = 'admin'; }
    if (!/^[A-Za-z_]/.test(user)) user = `_${user}`;
  }
  return { name: user.slice(0, 64), role: 'admin', publicKey, comment };
}

async function passphraseFor(dir: string): Promise<string | undefined> {
  const p = nodePaths(dir).config;
  if (!existsSync(p)) return undefined;
  const cfg = JSON.parse(readFileSync(p, 'utf8')) as { masterKey?: string };
  if (cfg.masterKey !== 'passphrase') return undefined;
  return process.env['TRINE_PASSPHRASE'] ?? await askHidden(`Passphrase for the data in ${dir}: `);
}

export interface InitFlags { dir?: string; listen?: string; id?: number; passphrase?: boolean; user?: string }

export async function initCommand(flags: InitFlags): Promise<void> {
  const dir = flags.dir ?? defaultNodeDir();
  const admin = await localAdmin(flags.user);
  const passphrase = flags.passphrase ? await newPassphrase() : undefined;
  const r = await initNode({ dir, admin, ...(flags.listen ? { listen: flags.listen } : {}), ...(flags.id ? { id: Number(flags.id) } : {}), ...(passphrase !== undefined ? { passphrase } : {}) });
  say(`Initialised node ${r.id} in ${dir}, founding a one-node cluster.`);
  say(`  address:     ${r.listen}`);
  say(`  fingerprint: ${fingerprint(r.publicKey)}`);
  say(`  admin user:  ${admin.name} (${fingerprint(admin.publicKey)})`);
  say(`Start it with: trine start${flags.dir ? ` --dir ${dir}` : ''}`);
}

/** Resolves on SIGINT or SIGTERM. */
function untilSignal(): Promise<string> {
  return new Promise((resolve) => {
    const on = (sig: string) => { process.off('SIGINT', onInt); process.off('SIGTERM', onTerm); resolve(sig); };
    const onInt = () => on('SIGINT');
    const onTerm = () => on('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
  });
}

export interface StartFlags { dir?: string; cluster?: number | string; cache?: string | number }

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kb: 1e3, kib: 2 ** 10, m: 2 ** 20, mb: 1e6, mib: 2 ** 20, g: 2 ** 30, gb: 1e9, gib: 2 ** 30, t: 2 ** 40, tb: 1e12, tib: 2 ** 40 };

/** `--cache` values: bytes with an optional unit (`512MiB`, `2GB`, `4g`) or a share of memory (`25%`). */
export function parseCacheSize(text: string | number, memory = totalmem()): number {
  const s = String(text).trim().toLowerCase();
  const pct = /^(\d+(?:\.\d+)?)\s*%$/.exec(s);
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/.exec(s);
  const bytes = pct ? memory * Number(pct[1]) / 100 : m && m[2]! in SIZE_UNITS ? Number(m[1]) * SIZE_UNITS[m[2]!]! : NaN;
  if (!Number.isFinite(bytes) || bytes < 1 << 20 || (pct && Number(pct[1]) > 90)) {
    throw new TrineError('CLI_BAD_CACHE_SIZE', `--cache ${text} is not a cache size; give bytes with a unit of at least 1MiB (e.g. 512MiB, 4GiB) or a share of memory up to 90% (e.g. 25%)`);
  }
  return Math.floor(bytes);
}

export async function startCommand(flags: StartFlags): Promise<void> {
  if (flags.cluster !== undefined) {
    await clusterCommand({ size: Number(flags.cluster), ...(flags.dir ? { dir: flags.dir } : {}), ...(flags.cache !== undefined ? { cache: flags.cache } : {}) });
    return;
  }
  const dir = flags.dir ?? defaultNodeDir();
  if (!existsSync(nodePaths(dir).config)) {
    if (flags.dir) throw new TrineError('NODE_NOT_FOUND', `no node in ${dir}; create one with \`trine init --dir ${dir}\``);
    say(`No node in ${dir} yet; initialising one.`);
    await initCommand({});
  }
  const cache = flags.cache !== undefined ? { cacheBytes: parseCacheSize(flags.cache) } : {};
  const node = await TrineNode.open({ dir, log: say, ...cache, ...await passphraseOpt(dir) });
  say(`Trine node ${node.id} serving on ${node.address}`);
  say(`  fingerprint: ${fingerprint(node.publicKey)}`);
  say(`  connect:     trine sql ${node.address}`);
  say('Press Ctrl-C to stop.');
  const sig = await untilSignal();
  say(`${sig}: stopping node ${node.id}${node.status().role === 'leader' ? ' (handing leadership over first)' : ''}...`);
  await node.close();
  say('Stopped.');
}

async function passphraseOpt(dir: string): Promise<{ passphrase?: string }> {
  const p = await passphraseFor(dir);
  return p === undefined ? {} : { passphrase: p };
}

export interface ClusterFlags { dir?: string; size?: number; host?: string; basePort?: number; cache?: string | number }

export async function clusterCommand(flags: ClusterFlags): Promise<void> {
  const dir = flags.dir ?? join(homedir(), '.trine', 'cluster');
  const size = Number(flags.size ?? 3);
  if (!Number.isInteger(size) || size < 1 || size > 9) throw new TrineError('CLI_BAD_SIZE', 'a local cluster has 1 to 9 nodes');
  if (!isClusterDir(dir, size)) {
    const admin = await localAdmin();
    const base = Number(flags.basePort ?? DEFAULT_PORT + 1);
    await initCluster({ dir, size, host: flags.host ?? '127.0.0.1', basePort: base, admin });
    say(`Initialised a ${size}-node cluster in ${dir} (admin user ${admin.name}).`);
  }
  // The nodes share this process and machine: the cache budget (given, or the default) is split.
  const cacheBytes = Math.max(CACHE_MIN_BYTES, Math.floor((flags.cache !== undefined ? parseCacheSize(flags.cache) : defaultCacheBytes(totalmem())) / size));
  const nodes = await startNodes(clusterNodeDirs(dir, size), say, cacheBytes);
  for (const n of nodes) say(`node ${n.id}: ${n.address}  ${fingerprint(n.publicKey)}  (${nodePaths(clusterNodeDirs(dir, size)[n.id - 1]!).dir})`);
  await Promise.race([Promise.all(nodes.map((n) => n.waitFounded(60_000))), untilSignal()]);
  say(`Cluster running. Connect with: trine sql ${nodes[0]!.address}`);
  say('Press Ctrl-C to stop all nodes.');
  const sig = await untilSignal();
  say(`${sig}: stopping ${size} nodes...`);
  // Followers first, so the leader's transfer has somewhere to go until the end.
  const ordered = [...nodes].sort((a, b) => Number(a.status().role === 'leader') - Number(b.status().role === 'leader'));
  for (const n of ordered) await n.close({ transfer: false });
  say('Stopped.');
}

/** host:port of the default local node, for commands run without an address. */
export function defaultAddress(): string {
  const p = nodePaths(defaultNodeDir()).config;
  if (existsSync(p)) {
    try { return (JSON.parse(readFileSync(p, 'utf8')) as { listen: string }).listen; } catch { /* fall through */ }
  }
  return `127.0.0.1:${DEFAULT_PORT}`;
}

export interface ClientFlags { key?: string; knownHosts?: string; fingerprint?: string; acceptNew?: boolean; consistency?: string }

export function splitTarget(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  if (!m) throw new TrineError('CLI_BAD_ADDRESS', `"${address}" is not host:port; write it like 127.0.0.1:${DEFAULT_PORT}`);
  return { host: m[1]!, port: Number(m[2]) };
}

export function clientOptions(address: string, flags: ClientFlags) {
  return {
    ...splitTarget(address),
    ...(flags.key ? { keyFile: flags.key } : {}),
    ...(flags.knownHosts ? { knownHosts: flags.knownHosts } : {}),
    ...(flags.fingerprint ? { fingerprint: flags.fingerprint } : {}),
    ...(flags.acceptNew ? { acceptNew: true } : {}),
    prompt: async (q: string) => /^y(es)?$/i.test((await ask(`${q} `)).trim()),
  };
}

export async function statusCommand(address: string | undefined, flags: ClientFlags): Promise<void> {
  const target = address ?? defaultAddress();
  const c = await connect(clientOptions(target, flags));
  try {
    const w = c.welcome!;
    say(`node ${w.node} at ${target}: ${w.raft.role}, term ${w.raft.term}, commit ${w.raft.commit}, applied ${w.raft.applied}`);
    say(`leader: ${w.leader ? `node ${w.leader}` : 'none known'}`);
    say(`you are ${w.user} (${w.role})`);
    say('members:');
    for (const m of w.members) say(`  ${m.id}  ${m.host}:${m.port}  ${fingerprint(m.publicKey)}${m.id === w.leader ? '  leader' : ''}`);
  } finally {
    await c.close();
  }
}
