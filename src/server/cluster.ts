/**
 * Founding clusters: `trine init` (one node, founded at once) and `trine cluster` (N nodes on one
 * machine with consecutive ports, founded when a quorum of them first runs).
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { AuthorizedUser } from '../crypto/authorized-users.ts';
import { DEFAULT_PORT } from './limits.ts';
import { initNodeDir, nodePaths, splitHostPort, writeBootstrap } from './layout.ts';
import { TrineNode } from './node.ts';
import type { Member } from './system.ts';

export interface InitNodeOptions {
  readonly dir: string;
  readonly listen?: string;
  readonly id?: number;
  readonly passphrase?: string;
  /** The first admin (the local user's key). */
  readonly admin: AuthorizedUser;
}

/**
 * Creates a node directory and founds a one-node cluster whose first replicated command records
 * the node as the only member and `admin` as the only user.
 */
export async function initNode(opts: InitNodeOptions): Promise<{ id: number; listen: string; publicKey: Uint8Array }> {
  const { config, key } = await initNodeDir({ dir: opts.dir, ...(opts.listen ? { listen: opts.listen } : {}), ...(opts.id ? { id: opts.id } : {}), ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) });
  const { host, port } = splitHostPort(config.listen);
  const self: Member = { id: config.id, host, port, publicKey: key.publicKey };
  writeBootstrap(opts.dir, { voters: [config.id], members: [self], users: [opts.admin] });
  const node = await TrineNode.open({ dir: opts.dir, serve: false, ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) });
  try {
    await node.waitFounded();
  } finally {
    await node.close({ transfer: false });
  }
  return { id: config.id, listen: config.listen, publicKey: key.publicKey };
}

export interface InitClusterOptions {
  /** Parent directory; nodes go to `<dir>/node1`, `<dir>/node2`, ... */
  readonly dir: string;
  readonly size?: number;
  readonly host?: string;
  /** Port of node 1; node i listens on basePort + i - 1. Or give every port. */
  readonly basePort?: number;
  readonly ports?: readonly number[];
  readonly admin: AuthorizedUser;
}

export function clusterNodeDirs(dir: string, size: number): string[] {
  return Array.from({ length: size }, (_, i) => join(dir, `node${i + 1}`));
}

/** True when `dir` holds a local cluster made by initCluster. */
export function isClusterDir(dir: string, size = 3): boolean {
  return clusterNodeDirs(dir, size).every((d) => existsSync(nodePaths(d).config));
}

/**
 * Creates N node directories that will found one cluster (ids 1..N, all voters) when started.
 * Every node gets the same bootstrap: the members with their keys and addresses, and the admin.
 */
export async function initCluster(opts: InitClusterOptions): Promise<string[]> {
  const size = opts.size ?? 3;
  const host = opts.host ?? '127.0.0.1';
  const base = opts.basePort ?? DEFAULT_PORT;
  const dirs = clusterNodeDirs(opts.dir, size);
  const members: Member[] = [];
  for (let i = 0; i < size; i++) {
    const port = opts.ports?.[i] ?? base + i;
    const { config, key } = await initNodeDir({ dir: dirs[i]!, listen: `${host}:${port}`, id: i + 1 });
    members.push({ id: config.id, host, port, publicKey: key.publicKey });
  }
  const voters = members.map((m) => m.id);
  for (const d of dirs) writeBootstrap(d, { voters, members, users: [opts.admin] });
  return dirs;
}

/** Opens every node of a local cluster in this process. */
export async function startNodes(dirs: readonly string[], log?: (line: string) => void, cacheBytes?: number): Promise<TrineNode[]> {
  const nodes: TrineNode[] = [];
  try {
    for (const d of dirs) nodes.push(await TrineNode.open({ dir: d, ...(log ? { log } : {}), ...(cacheBytes ? { cacheBytes } : {}) }));
  } catch (e) {
    for (const n of nodes) await n.close({ transfer: false }).catch(() => undefined);
    throw e;
  }
  return nodes;
}
