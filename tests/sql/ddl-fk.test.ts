/**
 * Schema changes under PRAGMA foreign_keys = ON, as SQLite makes them: DROP TABLE first deletes
 * the rows with the foreign key actions, and fails (dropping nothing) on an immediate violation.
 * Each script runs on Trine and on SQLite (better-sqlite3), whose outcomes, messages and codes
 * must agree; each test also states the outcome it expects, so it fails when both change together.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FK_FAILED as FK, bothWithForeignKeys } from './helpers.ts';

const both = bothWithForeignKeys;

const NAMES = "SELECT group_concat(name, ',') FROM sqlite_schema";

test('DROP TABLE of a parent runs ON DELETE CASCADE and SET NULL on its children first', () => {
  const out = both([
    'CREATE TABLE p(id INTEGER PRIMARY KEY)',
    'CREATE TABLE c1(x REFERENCES p ON DELETE CASCADE)',
    'CREATE TABLE c2(y REFERENCES p ON DELETE SET NULL)',
    'INSERT INTO p VALUES (1), (2)',
    'INSERT INTO c1 VALUES (1), (2), (NULL)',
    'INSERT INTO c2 VALUES (2)',
    'DROP TABLE p',
    'SELECT count(*) FROM c1',
    'SELECT * FROM c2',
    NAMES,
  ]);
  assert.equal(out.slice(6), ['ok ', 'ok 1', 'ok null', 'ok "c1,c2"']);
});

test('DROP TABLE of a parent with children under NO ACTION fails and drops nothing, until the children go', () => {
  const out = both([
    'CREATE TABLE p(id INTEGER PRIMARY KEY)',
    'CREATE TABLE c(x REFERENCES p)',
    'INSERT INTO p VALUES (5)',
    'INSERT INTO c VALUES (5)',
    'DROP TABLE p',
    'SELECT * FROM p',
    NAMES,
    'DELETE FROM c',
    'DROP TABLE p',
    NAMES,
  ]);
  assert.equal(out.slice(4), [FK, 'ok 5', 'ok "p,c"', 'ok ', 'ok ', 'ok "c"']);
});

test('DROP TABLE fails through a RESTRICT child, and through a SET DEFAULT whose default has no parent', () => {
  const out = both([
    'CREATE TABLE p(id INTEGER PRIMARY KEY)',
    'CREATE TABLE r(x REFERENCES p ON DELETE RESTRICT)',
    'CREATE TABLE d(x DEFAULT 9 REFERENCES p ON DELETE SET DEFAULT)',
    'INSERT INTO p VALUES (1), (2)',
    'INSERT INTO r VALUES (1)',
    'INSERT INTO d VALUES (2)',
    'DROP TABLE p',
    'DELETE FROM r',
    'DROP TABLE p',
    'SELECT * FROM d',
    NAMES,
  ]);
  assert.equal(out.slice(6), ['SQLITE_CONSTRAINT_TRIGGER: FOREIGN KEY constraint failed', 'ok ', FK, 'ok 2', 'ok "p,r,d"']);
});

test('DROP TABLE of a self-referencing table deletes its rows (and a cascade) without failing', () => {
  const out = both([
    'CREATE TABLE n(id INTEGER PRIMARY KEY, up REFERENCES n ON DELETE CASCADE)',
    'CREATE TABLE m(id INTEGER PRIMARY KEY, up REFERENCES m)',
    'INSERT INTO n VALUES (1, NULL), (2, 1), (3, 2)',
    'INSERT INTO m VALUES (1, NULL), (2, 1), (3, 2)',
    'DROP TABLE n',
    'DROP TABLE m',
    NAMES,
  ]);
  assert.equal(out.slice(4), ['ok ', 'ok ', 'ok null']);
});

test('with foreign keys off, DROP TABLE of a parent drops it at once and leaves the children', () => {
  const out = both([
    'PRAGMA foreign_keys = OFF',
    'CREATE TABLE p(id INTEGER PRIMARY KEY)',
    'CREATE TABLE c(x REFERENCES p ON DELETE CASCADE)',
    'INSERT INTO p VALUES (1)',
    'INSERT INTO c VALUES (1)',
    'DROP TABLE p',
    'SELECT * FROM c',
  ]);
  assert.equal(out.slice(5), ['ok ', 'ok 1']);
});

test('DROP TABLE of a deferred parent inside a transaction counts until COMMIT; dropping the child too settles it', () => {
  const out = both([
    'CREATE TABLE s(id INTEGER PRIMARY KEY)',
    'CREATE TABLE f(x REFERENCES s DEFERRABLE INITIALLY DEFERRED)',
    'INSERT INTO s VALUES (1)',
    'INSERT INTO f VALUES (1)',
    'BEGIN',
    'DROP TABLE s',
    "SELECT group_concat(name, ',') FROM sqlite_schema",
    'COMMIT',
    'ROLLBACK',
    "SELECT group_concat(name, ',') FROM sqlite_schema",
    'BEGIN',
    'DROP TABLE s',
    'DROP TABLE f',
    'COMMIT',
    "SELECT group_concat(name, ',') FROM sqlite_schema",
  ]);
  assert.equal(out, ['ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok ', 'ok "f"', FK, 'ok ', 'ok "s,f"', 'ok ', 'ok ', 'ok ', 'ok ', 'ok null']);
});

test('DROP TABLE counts its implicit DELETE: changes() its rows, total_changes() also the rows its actions change', () => {
  const CH = 'SELECT changes(), total_changes()';
  const out = both([
    'CREATE TABLE p(id INTEGER PRIMARY KEY)',
    'CREATE TABLE c1(x REFERENCES p ON DELETE CASCADE)',
    'CREATE TABLE c2(y REFERENCES p ON DELETE SET NULL)',
    'INSERT INTO p VALUES (1), (2), (3)',
    'INSERT INTO c1 VALUES (1), (2), (NULL)',
    'INSERT INTO c2 VALUES (2)',
    'DELETE FROM p WHERE id = 3',
    CH,
    'DROP TABLE p',
    CH,
    // Neither referenced nor holding a deferred key: no DELETE, changes() stays.
    'CREATE TABLE q(a)',
    'CREATE TABLE q2(a)',
    'INSERT INTO q VALUES (1), (2)',
    'DROP TABLE q',
    CH,
    // Referenced but empty, or with a deferred key and no deferred violation: a DELETE of nothing.
    'CREATE TABLE e(id INTEGER PRIMARY KEY)',
    'CREATE TABLE ec(x REFERENCES e DEFERRABLE INITIALLY DEFERRED)',
    'INSERT INTO ec VALUES (NULL)',
    'DROP TABLE e',
    CH,
    'INSERT INTO q2 VALUES (1)',
    'DROP TABLE ec',
    CH,
    // A deferred violation outstanding: the DELETE runs.
    'CREATE TABLE g(id INTEGER PRIMARY KEY)',
    'CREATE TABLE gc(x REFERENCES g DEFERRABLE INITIALLY DEFERRED)',
    'BEGIN',
    'INSERT INTO gc VALUES (NULL), (NULL), (7)',
    'DROP TABLE gc',
    CH,
    'COMMIT',
  ]);
  assert.equal(out.filter((_, i) => [7, 9, 14, 19, 22, 28].includes(i)), ['ok 1|8', 'ok 2|13', 'ok 2|15', 'ok 0|16', 'ok 0|17', 'ok 3|23']);
});

test.run();
