/**
 * Trust on first use, as SSH does it. The first time a client meets a server it asks for the
 * server's static key (KEY_REQUEST, unauthenticated), shows its fingerprint and lets a person
 * confirm it, or takes `--fingerprint SHA256:...` / `--accept-new` for scripts; the key is then
 * recorded in known_hosts. A recorded key that no longer matches is refused loudly.
 *
 * The key fetched here is only ever compared with what a person or known_hosts vouches for; the
 * Noise handshake that follows proves the server holds it.
 */
import { fingerprint, hostName, KnownHosts, TrineError } from '../crypto/index.ts';
import { NetErrorCode } from './errors.ts';
import type { Limits } from './limits.ts';
import { connect, fetchServerKey, type TrineConnection } from './udp.ts';

export interface TrustOptions {
  /** The known_hosts file (loaded, and saved when a key is added). Or pass `knownHosts`. */
  readonly knownHostsPath?: string;
  readonly knownHosts?: KnownHosts;
  /** `--fingerprint SHA256:...`: accept a new key only if it has this fingerprint. */
  readonly fingerprint?: string;
  /** `--accept-new`: record a key seen for the first time without asking (a changed key is still refused). */
  readonly acceptNew?: boolean;
  /** Asks the person; resolves true to trust the key. Without it, an unknown key is refused. */
  readonly prompt?: (question: string) => Promise<boolean>;
  /** Where notices go (default: stderr). */
  readonly print?: (line: string) => void;
  /** How the key is fetched (default: KEY_REQUEST over UDP); injectable for tests. */
  readonly fetchKey?: (host: string, port: number) => Promise<Uint8Array>;
}

function splitAddress(address: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(address);
  if (!m) throw new TrineError('NET_BAD_ADDRESS', `"${address}" is not host:port; write it like 10.0.0.5:7420 or [::1]:7420`);
  return { host: m[1]!, port: Number(m[2]) };
}

/**
 * Returns the server key to use for `address` ("host:port"), recording it in known_hosts on first
 * use. Throws NET_SERVER_KEY_CHANGED when known_hosts holds a different key, and
 * NET_UNKNOWN_SERVER_KEY when a new key was not confirmed.
 */
export async function trustServer(address: string, opts: TrustOptions = {}): Promise<Uint8Array> {
  const { host, port } = splitAddress(address);
  const name = hostName(host, port);
  const print = opts.print ?? ((l: string) => process.stderr.write(`${l}\n`));
  const hosts = opts.knownHosts ?? (opts.knownHostsPath ? await KnownHosts.load(opts.knownHostsPath) : KnownHosts.empty());
  const key = await (opts.fetchKey ?? fetchServerKey)(host, port);
  const fp = fingerprint(key);
  const state = hosts.check(name, key);
  if (state === 'changed') {
    const old = hosts.lookup(name);
    throw new TrineError(NetErrorCode.SERVER_KEY_CHANGED, [
      `WARNING: THE SERVER KEY FOR ${name} HAS CHANGED.`,
      `known_hosts has ${old ? fingerprint(old) : 'a revoked key'}, the server now presents ${fp}.`,
      'Someone may be intercepting this connection, or the server was re-keyed.',
      `Connection refused. If you know the key changed on purpose, remove ${name} from ${hosts.path ?? 'known_hosts'} and connect again.`,
    ].join('\n'));
  }
  if (state === 'known') {
    if (opts.fingerprint && opts.fingerprint !== fp) throw mismatch(name, opts.fingerprint, fp);
    return key;
  }
  if (opts.fingerprint) {
    if (opts.fingerprint !== fp) throw mismatch(name, opts.fingerprint, fp);
  } else if (!opts.acceptNew) {
    const question = `The authenticity of server ${name} can't be established.\nIts key fingerprint is ${fp}.\nAre you sure you want to trust it (yes/no)?`;
    const yes = opts.prompt ? await opts.prompt(question) : false;
    if (!yes) {
      throw new TrineError(NetErrorCode.UNKNOWN_SERVER_KEY, `the key of ${name} (${fp}) is not in known_hosts and was not confirmed; check the fingerprint with the server's administrator, then pass --fingerprint ${fp} or answer yes`);
    }
  }
  hosts.add(name, key);
  if (hosts.path) await hosts.save();
  print(`Permanently added ${name} (${fp}) to the list of known servers.`);
  return key;
}

/**
 * `trustServer` then `connect`: what a client command does. The key comes from known_hosts (or is
 * confirmed on first use) and the handshake then proves the server holds it.
 */
export async function connectTrusted(address: string, opts: TrustOptions & { readonly staticKey: Uint8Array; readonly limits?: Partial<Limits> }): Promise<TrineConnection> {
  const serverKey = await trustServer(address, opts);
  const { host, port } = splitAddress(address);
  return connect({ address: host, port, serverKey, staticKey: opts.staticKey, ...(opts.limits ? { limits: opts.limits } : {}) });
}

function mismatch(name: string, expected: string, got: string): TrineError {
  return new TrineError(NetErrorCode.UNKNOWN_SERVER_KEY, `the key of ${name} has fingerprint ${got}, not the ${expected} you gave; do not connect until the administrator confirms the right one`);
}
