/**
 * A node's directory (docs/SERVER.md, "Node directory"):
 *
 *   node.json        id, listen address, how the master key is kept
 *   node_key(.pub)   the node's static X25519 key (0600), the identity peers and clients pin
 *   master.key       32 random bytes, base64 (0600), unless a passphrase protects the data
 *   bootstrap.json   the founding members, voters and users, until they are replicated
 *   data/            the encrypted LSM engine (the SQL state machine and system records)
 *   raft/            the encrypted Raft log
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fromBase64, toBase64 } from '../crypto/bytes.ts';
import { TrineError } from '../crypto/errors.ts';
import { generateKeyPair, readPrivateKeyFile, writeKeyFiles, type KeyPair } from '../crypto/keys.ts';
import { randomBytes } from '../crypto/random.ts';
import { checkPrivateKeyPermissions } from '../crypto/keys.ts';
import { checkUserName, isRole, type AuthorizedUser } from '../crypto/authorized-users.ts';
import type { MasterKey } from '../storage/envelope.ts';
import type { NodeId } from '../raft/types.ts';
import { DEFAULT_PORT } from './limits.ts';
import type { Member } from './system.ts';

export const CONFIG_VERSION = 1;

export interface NodeConfig {
  readonly version: number;
  readonly id: NodeId;
  /** host:port to bind, and the address peers and clients use. */
  readonly listen: string;
  readonly masterKey: 'file' | 'passphrase';
}

export interface Bootstrap {
  readonly voters: NodeId[];
  readonly members: Member[];
  readonly users: AuthorizedUser[];
}

export interface NodePaths {
  readonly dir: string;
  readonly config: string;
  readonly key: string;
  readonly master: string;
  readonly bootstrap: string;
  readonly data: string;
  readonly raft: string;
}

export function defaultNodeDir(): string {
  return join(homedir(), '.trine', 'node');
}

export function nodePaths(dir: string): NodePaths {
  return {
    dir,
    config: join(dir, 'node.json'),
    key: join(dir, 'node_key'),
    master: join(dir, 'master.key'),
    bootstrap: join(dir, 'bootstrap.json'),
    data: join(dir, 'data'),
    raft: join(dir, 'raft'),
  };
}

export function splitHostPort(s: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new TrineError('CLI_BAD_ADDRESS', `"${s}" is not host:port; write it like 127.0.0.1:${DEFAULT_PORT}`);
  return { host: m[1]!, port };
}

export interface InitOptions {
  readonly dir: string;
  readonly listen?: string;
  readonly id?: NodeId;
  /** Protect the data with this passphrase (scrypt) instead of a key file. */
  readonly passphrase?: string;
}

/** Creates the directory, the node key and the master key. Refuses a directory already initialised. */
export async function initNodeDir(opts: InitOptions): Promise<{ config: NodeConfig; key: KeyPair; paths: NodePaths }> {
  const paths = nodePaths(opts.dir);
  if (existsSync(paths.config)) throw new TrineError('NODE_EXISTS', `${opts.dir} already holds a node (node.json exists); start it with \`trine start --dir ${opts.dir}\` or choose another --dir`);
  const listen = opts.listen ?? `127.0.0.1:${DEFAULT_PORT}`;
  splitHostPort(listen);
  mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
  const id = opts.id ?? 1 + Math.floor(Math.random() * 0x7ffffffe);
  const key = generateKeyPair(`trine-node-${id}`);
  await writeKeyFiles(paths.key, key, { overwrite: true });
  if (opts.passphrase === undefined) {
    writeFileSync(paths.master, `${toBase64(randomBytes(32))}\n`, { mode: 0o600 });
    chmodSync(paths.master, 0o600);
  }
  const config: NodeConfig = { version: CONFIG_VERSION, id, listen, masterKey: opts.passphrase === undefined ? 'file' : 'passphrase' };
  // node.json last: its presence says the directory is complete.
  writeFileSync(paths.config, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return { config, key, paths };
}

export function writeBootstrap(dir: string, b: Bootstrap): void {
  const doc = {
    voters: b.voters,
    members: b.members.map((m) => ({ id: m.id, host: m.host, port: m.port, key: toBase64(m.publicKey) })),
    users: b.users.map((u) => ({ name: u.name, role: u.role, key: toBase64(u.publicKey), comment: u.comment })),
  };
  writeFileSync(nodePaths(dir).bootstrap, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
}

function badFile(path: string, why: string): TrineError {
  return new TrineError('NODE_BAD_FILE', `${path}: ${why}; restore it or initialise the node again`);
}

export function readBootstrap(dir: string): Bootstrap | undefined {
  const path = nodePaths(dir).bootstrap;
  if (!existsSync(path)) return undefined;
  const j = JSON.parse(readFileSync(path, 'utf8')) as { voters: number[]; members: { id: number; host: string; port: number; key: string }[]; users: { name: string; role: string; key: string; comment: string }[] };
  const key = (s: string) => { const k = fromBase64(s); if (!k || k.length !== 32) throw badFile(path, 'a key is not 32 bytes of base64'); return k; };
  return {
    voters: j.voters,
    members: j.members.map((m) => ({ id: m.id, host: m.host, port: m.port, publicKey: key(m.key) })),
    users: j.users.map((u) => {
      checkUserName(u.name);
      if (!isRole(u.role)) throw badFile(path, `unknown role ${u.role}`);
      return { name: u.name, role: u.role, publicKey: key(u.key), comment: u.comment ?? '' };
    }),
  };
}

export interface LoadedNode {
  readonly paths: NodePaths;
  readonly config: NodeConfig;
  readonly key: KeyPair;
  readonly masterKey: MasterKey;
  readonly bootstrap: Bootstrap | undefined;
}

/** Reads everything a node needs to start. `passphrase` is asked for by the caller when needed. */
export async function loadNodeDir(dir: string, passphrase?: string): Promise<LoadedNode> {
  const paths = nodePaths(dir);
  if (!existsSync(paths.config)) throw new TrineError('NODE_NOT_FOUND', `no node in ${dir}; create one with \`trine init --dir ${dir}\``);
  const config = JSON.parse(readFileSync(paths.config, 'utf8')) as NodeConfig;
  if (config.version !== CONFIG_VERSION) throw badFile(paths.config, `version ${config.version} is not supported by this Trine`);
  const key = await readPrivateKeyFile(paths.key);
  let masterKey: MasterKey;
  if (config.masterKey === 'passphrase') {
    if (passphrase === undefined) throw new TrineError('NODE_NEEDS_PASSPHRASE', `the data in ${dir} is protected by a passphrase; set TRINE_PASSPHRASE or run from a terminal`);
    masterKey = { passphrase };
  } else {
    checkPrivateKeyPermissions(paths.master);
    const k = fromBase64(readFileSync(paths.master, 'utf8').trim());
    if (!k || k.length !== 32) throw badFile(paths.master, 'the master key is not 32 bytes of base64');
    masterKey = k;
  }
  return { paths, config, key, masterKey, bootstrap: readBootstrap(dir) };
}
