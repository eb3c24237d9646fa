/**
 * Kysely's SQLite dialect pieces (query compiler, adapter, introspector) run unchanged over a
 * Trine session: queries, inserts with RETURNING, transactions and schema introspection.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  CompiledQuery, Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler, sql,
  type DatabaseConnection, type Dialect, type Driver, type Generated, type QueryResult,
} from 'kysely';
import type { Session } from '../../src/sql/index.ts';
import { fresh } from './helpers.ts';

function trineDialect(session: Session): Dialect {
  const connection: DatabaseConnection = {
    async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
      const r = session.execute(q.sql, q.parameters as unknown[]);
      const rows = r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i]])) as R);
      return { rows, numAffectedRows: BigInt(r.changes), insertId: BigInt(r.lastInsertRowid) };
    },
    async *streamQuery() { throw new Error('streaming is not supported by this test dialect'); },
  };
  const driver: Driver = {
    async init() {},
    async acquireConnection() { return connection; },
    async beginTransaction(c) { await c.executeQuery(CompiledQuery.raw('begin')); },
    async commitTransaction(c) { await c.executeQuery(CompiledQuery.raw('commit')); },
    async rollbackTransaction(c) { await c.executeQuery(CompiledQuery.raw('rollback')); },
    async releaseConnection() {},
    async destroy() {},
  };
  return {
    createAdapter: () => new SqliteAdapter(),
    createDriver: () => driver,
    createIntrospector: (db) => new SqliteIntrospector(db),
    createQueryCompiler: () => new SqliteQueryCompiler(),
  };
}

interface DB {
  person: { id: Generated<number>; first_name: string; age: number | null; created: Generated<string> };
  pet: { id: number; owner_id: number; name: string };
}

test('Kysely builds schema, writes, reads, joins, aggregates and introspects through Trine', async () => {
  const { s } = fresh();
  const db = new Kysely<DB>({ dialect: trineDialect(s) });
  await db.schema.createTable('person')
    .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
    .addColumn('first_name', 'text', (c) => c.notNull())
    .addColumn('age', 'integer')
    .addColumn('created', 'text', (c) => c.notNull().defaultTo(sql`CURRENT_TIMESTAMP`))
    .execute();
  await db.schema.createTable('pet')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('owner_id', 'integer', (c) => c.notNull().references('person.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .execute();
  await db.schema.createIndex('pet_owner').on('pet').column('owner_id').execute();

  const inserted = await db.insertInto('person').values([{ first_name: 'Ada', age: 36 }, { first_name: 'Alan', age: null }]).returning(['id', 'first_name']).execute();
  assert.equal(inserted, [{ id: 1, first_name: 'Ada' }, { id: 2, first_name: 'Alan' }]);
  await db.insertInto('pet').values({ id: 10, owner_id: 1, name: 'Byte' }).execute();
  await db.insertInto('pet').values({ id: 11, owner_id: 1, name: 'Nibble' }).onConflict((oc) => oc.column('name').doUpdateSet({ owner_id: 2 })).execute();
  await db.insertInto('pet').values({ id: 12, owner_id: 1, name: 'Nibble' }).onConflict((oc) => oc.column('name').doUpdateSet({ owner_id: 2 })).execute();

  const joined = await db.selectFrom('person').innerJoin('pet', 'pet.owner_id', 'person.id')
    .select(['person.first_name', 'pet.name']).orderBy('pet.name').execute();
  assert.equal(joined, [{ first_name: 'Ada', name: 'Byte' }, { first_name: 'Alan', name: 'Nibble' }]);
  const counts = await db.selectFrom('person').leftJoin('pet', 'pet.owner_id', 'person.id')
    .select(['person.first_name', (eb) => eb.fn.count<number>('pet.id').as('pets')])
    .groupBy('person.id').orderBy('person.id').execute();
  assert.equal(counts, [{ first_name: 'Ada', pets: 1 }, { first_name: 'Alan', pets: 1 }]);
  const updated = await db.updateTable('person').set({ age: 41 }).where('first_name', '=', 'Alan').executeTakeFirst();
  assert.is(updated.numUpdatedRows, 1n);
  const one = await db.selectFrom('person').selectAll().where('age', '>', 40).executeTakeFirstOrThrow();
  assert.is(one.first_name, 'Alan');
  assert.match(one.created, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);

  await assert.not.throws(async () => {
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('person').values({ first_name: 'Grace', age: 85 }).execute();
    });
  });
  await db.transaction().execute(async (trx) => {
    await trx.insertInto('person').values({ first_name: 'Temp', age: 1 }).execute();
    throw new Error('abort');
  }).catch(() => {});
  const names = (await db.selectFrom('person').select('first_name').orderBy('id').execute()).map((r) => r.first_name);
  assert.equal(names, ['Ada', 'Alan', 'Grace']);

  const tables = await db.introspection.getTables();
  assert.equal(tables.map((t) => t.name), ['person', 'pet']);
  const person = tables[0]!;
  assert.equal(person.columns.map((c) => [c.name, c.dataType, c.isNullable, c.isAutoIncrementing, c.hasDefaultValue]), [
    ['id', 'integer', true, true, false], ['first_name', 'text', false, false, false], ['age', 'integer', true, false, false], ['created', 'text', false, false, true],
  ]);
  await db.schema.alterTable('person').addColumn('email', 'text').execute();
  await db.schema.alterTable('person').renameColumn('email', 'mail').execute();
  const after = await db.introspection.getTables();
  assert.ok(after[0]!.columns.some((c) => c.name === 'mail'));
  await db.schema.dropTable('pet').execute();
  assert.equal((await db.introspection.getTables()).map((t) => t.name), ['person']);
  await db.destroy();
});

test.run();
