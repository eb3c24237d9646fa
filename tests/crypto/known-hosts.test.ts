import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KnownHosts, hostName } from '../../src/crypto/known-hosts.ts';
import { generateKeyPair, formatPublicKey } from '../../src/crypto/keys.ts';
import { parseAuthorizedUsers, formatAuthorizedUsers, findUserByKey, checkUserName } from '../../src/crypto/authorized-users.ts';
import { equalBytes, toBase64 } from '../../src/crypto/bytes.ts';

const dir = mkdtempSync(join(tmpdir(), 'trine-kh-'));
const code = (c: string) => (e: any) => e?.code === c;
const k1 = generateKeyPair().publicKey, k2 = generateKeyPair().publicKey;

test('hostName canonicalises case and brackets IPv6 addresses', () => {
  assert.is(hostName('DB1.Example', 7000), 'db1.example:7000');
  assert.is(hostName('::1', 7000), '[::1]:7000');
  assert.is(hostName('127.0.0.1', 1), '127.0.0.1:1');
});

test('unknown, then known after add; a different key for the same host is "changed"', () => {
  const kh = KnownHosts.empty();
  assert.is(kh.check('db1:7000', k1), 'unknown');
  kh.add('db1:7000', k1);
  assert.is(kh.check('db1:7000', k1), 'known');
  assert.is(kh.check('DB1:7000', k1), 'known');
  assert.is(kh.check('db1:7000', k2), 'changed');
  assert.is(kh.check('db1:7001', k2), 'unknown');
  assert.throws(() => kh.add('db1:7000', k2), code('HOST_KEY_CHANGED'));
  assert.ok(equalBytes(kh.lookup('db1:7000')!, k1));
});

test('save and load round-trip, keeping comments and blank lines', async () => {
  const path = join(dir, 'known_hosts');
  const kh = await KnownHosts.load(path);
  assert.is(kh.lookup('a:1'), undefined);
  kh.add('a:1', k1, 'first');
  kh.add('[::1]:7000', k2);
  await kh.save();
  const text = `# my servers\n\n${readFileSync(path, 'utf8')}`;
  const again = KnownHosts.parse(text, path);
  assert.ok(equalBytes(again.lookup('a:1')!, k1));
  assert.ok(equalBytes(again.lookup('[::1]:7000')!, k2));
  assert.ok(again.toString().startsWith('# my servers\n\na:1 trine-x25519 '));
});

test('hashed host names hide the host but still match', () => {
  const kh = KnownHosts.empty({ hashNames: true });
  kh.add('secret.example:7000', k1);
  const text = kh.toString();
  assert.not.match(text, /secret/);
  assert.match(text, /^\|1\|[A-Za-z0-9+/=]+\|[A-Za-z0-9+/=]+ trine-x25519 /);
  const back = KnownHosts.parse(text);
  assert.is(back.check('secret.example:7000', k1), 'known');
  assert.is(back.check('secret.example:7000', k2), 'changed');
  assert.is(back.check('other:7000', k1), 'unknown');
});

test('a revoked key is refused for every host', () => {
  const kh = KnownHosts.parse(`@revoked *.example:7000 trine-x25519 ${toBase64(k1)}\nok:1 trine-x25519 ${toBase64(k1)}\n`.replace('*.example', 'bad.example'));
  assert.is(kh.check('ok:1', k1), 'changed');
  assert.is(kh.lookup('bad.example:7000'), undefined);
});

test('malformed known_hosts lines are refused with the file and line number', () => {
  const good = `a:1 trine-x25519 ${toBase64(k1)}`;
  const cases: [string, RegExp][] = [
    ['a:1 trine-x25519', /expected/],
    ['a:1 ssh-ed25519 AAAA', /unknown key type/],
    ['a:1 trine-x25519 AAAA', /32 bytes/],
    [`nohostport trine-x25519 ${toBase64(k1)}`, /not host:port/],
    [`@cert-authority a:1 trine-x25519 ${toBase64(k1)}`, /unknown marker/],
    [`|1|zz|yy trine-x25519 ${toBase64(k1)}`, /hashed/],
  ];
  for (const [line, why] of cases) {
    try {
      KnownHosts.parse(`${good}\n${line}\n`, '/home/u/.trine/known_hosts');
      assert.unreachable(line);
    } catch (e: any) {
      assert.is(e.code, 'KNOWN_HOSTS_MALFORMED', line);
      assert.match(e.message, /known_hosts:2: /);
      assert.match(e.message, why);
      assert.match(e.message, /fix or delete that line/);
    }
  }
});

test('authorized users parse, print back, and find users by key', () => {
  const text = `# users\nalice admin ${formatPublicKey(k1, 'alice@laptop')}\nbob readonly ${formatPublicKey(k2)}\n`;
  const users = parseAuthorizedUsers(text);
  assert.is(users.length, 2);
  assert.is(users[0]!.role, 'admin');
  assert.is(users[0]!.comment, 'alice@laptop');
  assert.is(findUserByKey(users, k2)!.name, 'bob');
  assert.is(findUserByKey(users, generateKeyPair().publicKey), undefined);
  assert.equal(parseAuthorizedUsers(formatAuthorizedUsers(users)), users);
});

test('authorized users: bad roles, names, keys and duplicates are refused with the line', () => {
  const k = formatPublicKey(k1);
  const cases: [string, RegExp][] = [
    [`alice superuser ${k}`, /unknown role/],
    [`9lives admin ${k}`, /not a valid user name/],
    ['alice admin ssh-ed25519 AAAA', /unknown key type/],
    ['alice admin trine-x25519', /expected/],
    [`alice admin ${k}\nalice readonly ${formatPublicKey(k2)}`, /listed twice/],
    [`alice admin ${k}\nbob readonly ${k}`, /another user/],
  ];
  for (const [t, why] of cases) {
    assert.throws(() => parseAuthorizedUsers(t), (e: any) => e.code === 'USERS_MALFORMED' && why.test(e.message) && /authorized_users:\d+: /.test(e.message), t);
  }
  assert.throws(() => checkUserName('a b'), code('USER_BAD_NAME'));
  checkUserName('svc_backup-1.prod');
});

test.run();
