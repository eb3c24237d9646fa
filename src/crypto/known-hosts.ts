/**
 * The client's `known_hosts`: which server key belongs to which `host:port`, learnt on first use
 * and checked on every later connection, as SSH does. Format: docs/FORMATS.md, "known_hosts".
 */
import { createHmac } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { Buffer } from 'node:buffer';
import process from 'node:process';
import { equalBytes, fromBase64, toBase64 } from './bytes.ts';
import { TrineError } from './errors.ts';
import { KEY_TYPE } from './keys.ts';
import { randomBytes } from './random.ts';

const HASH_MARK = '|1|';

export type HostCheck = 'known' | 'unknown' | 'changed';

interface Entry {
  /** Plain host pattern, or undefined for a hashed entry. */
  host?: string;
  salt?: Uint8Array;
  mac?: Uint8Array;
  key: Uint8Array;
  revoked: boolean;
  comment: string;
}

/** Canonical `host:port` form used as the lookup name (IPv6 addresses in brackets). */
export function hostName(host: string, port: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${h.toLowerCase()}:${port}`;
}

function hashHost(salt: Uint8Array, host: string): Uint8Array {
  const d = createHmac('sha256', Buffer.from(salt)).update(host).digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

export class KnownHosts {
  private entries: Entry[] = [];
  /** Lines kept verbatim (comments, blanks) so saving does not lose what a person wrote. */
  private lines: (string | Entry)[] = [];

  private constructor(readonly path: string | undefined, readonly hashNames: boolean) {}

  /** An empty, unsaved list (tests, or a client with no home directory). */
  static empty(opts: { hashNames?: boolean } = {}): KnownHosts {
    return new KnownHosts(undefined, opts.hashNames ?? false);
  }

  /** Parses known_hosts text; throws KNOWN_HOSTS_MALFORMED naming the line. */
  static parse(text: string, path?: string, opts: { hashNames?: boolean } = {}): KnownHosts {
    const kh = new KnownHosts(path, opts.hashNames ?? false);
    const where = path ?? 'known_hosts';
    const rows = text.split('\n');
    if (rows[rows.length - 1] === '') rows.pop();
    rows.forEach((raw, i) => {
      const line = raw.replace(/\r$/, '');
      const t = line.trim();
      if (t === '' || t.startsWith('#')) { kh.lines.push(line); return; }
      const bad = (why: string) => new TrineError('KNOWN_HOSTS_MALFORMED', `${where}:${i + 1}: ${why}; fix or delete that line`);
      const parts = t.split(/\s+/);
      let revoked = false;
      if (parts[0] === '@revoked') { revoked = true; parts.shift(); }
      else if (parts[0]!.startsWith('@')) throw bad(`unknown marker "${parts[0]}"`);
      if (parts.length < 3) throw bad('expected "host:port trine-x25519 <base64 key>"');
      const [hostField, type, keyField] = parts as [string, string, string];
      if (type !== KEY_TYPE) throw bad(`unknown key type "${type}"`);
      const key = fromBase64(keyField);
      if (!key || key.length !== 32) throw bad('the key is not 32 bytes of base64');
      const entry: Entry = { key, revoked, comment: parts.slice(3).join(' ') };
      if (hostField.startsWith(HASH_MARK)) {
        const [salt, mac] = hostField.slice(HASH_MARK.length).split('|').map((s) => fromBase64(s));
        if (!salt || !mac || salt.length !== 16 || mac.length !== 32) throw bad('malformed hashed host name');
        entry.salt = salt; entry.mac = mac;
      } else {
        if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}$/.test(hostField)) throw bad(`"${hostField}" is not host:port`);
        entry.host = hostField.toLowerCase();
      }
      kh.entries.push(entry);
      kh.lines.push(entry);
    });
    return kh;
  }

  /** Loads a known_hosts file; a missing file is an empty list. */
  static async load(path: string, opts: { hashNames?: boolean } = {}): Promise<KnownHosts> {
    let text = '';
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return KnownHosts.parse(text, path, opts);
  }

  private matches(e: Entry, host: string): boolean {
    if (e.host !== undefined) return e.host === host;
    return equalBytes(hashHost(e.salt!, host), e.mac!);
  }

  /** The recorded key for `host` (`host:port`), if any and not revoked. */
  lookup(host: string): Uint8Array | undefined {
    const h = host.toLowerCase();
    for (const e of this.entries) if (!e.revoked && this.matches(e, h)) return e.key;
    return undefined;
  }

  /**
   * `known` when `key` is recorded for `host`; `unknown` when nothing is; `changed` when another
   * key is recorded (or this key is revoked): the caller must refuse the connection.
   */
  check(host: string, key: Uint8Array): HostCheck {
    const h = host.toLowerCase();
    let seen = false;
    for (const e of this.entries) {
      if (e.revoked && equalBytes(e.key, key)) return 'changed';
    }
    for (const e of this.entries) {
      if (e.revoked || !this.matches(e, h)) continue;
      if (equalBytes(e.key, key)) return 'known';
      seen = true;
    }
    return seen ? 'changed' : 'unknown';
  }

  /** Records `key` for `host`, replacing nothing: a changed key must be removed by hand first. */
  add(host: string, key: Uint8Array, comment = ''): void {
    const h = host.toLowerCase();
    const c = this.check(h, key);
    if (c === 'known') return;
    if (c === 'changed') {
      throw new TrineError('HOST_KEY_CHANGED', `a different key is already recorded for ${h}; if the server was really re-keyed, remove its line from ${this.path ?? 'known_hosts'}`);
    }
    const entry: Entry = { key, revoked: false, comment };
    if (this.hashNames) { entry.salt = randomBytes(16); entry.mac = hashHost(entry.salt, h); }
    else entry.host = h;
    this.entries.push(entry);
    this.lines.push(entry);
  }

  /** Removes every entry for `host`; returns how many. */
  remove(host: string): number {
    const h = host.toLowerCase();
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => !this.matches(e, h));
    this.lines = this.lines.filter((l) => typeof l === 'string' || this.entries.includes(l));
    return before - this.entries.length;
  }

  toString(): string {
    const out = this.lines.map((l) => {
      if (typeof l === 'string') return l;
      const name = l.host ?? `${HASH_MARK}${toBase64(l.salt!)}|${toBase64(l.mac!)}`;
      return `${l.revoked ? '@revoked ' : ''}${name} ${KEY_TYPE} ${toBase64(l.key)}${l.comment ? ` ${l.comment}` : ''}`;
    });
    while (out.length && out[out.length - 1] === '') out.pop();
    return out.length ? `${out.join('\n')}\n` : '';
  }

  /** Writes the file atomically (temp file + rename), mode 0644, creating its folder. */
  async save(): Promise<void> {
    if (!this.path) throw new TrineError('KNOWN_HOSTS_NO_PATH', 'this known_hosts list has no file to save to');
    await fsp.mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const tmp = `${this.path}.tmp-${process.pid}`;
    await fsp.writeFile(tmp, this.toString(), { mode: 0o644 });
    await fsp.rename(tmp, this.path);
  }
}
