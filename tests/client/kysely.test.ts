/**
 * Kysely end to end against a running node: schema builder, inserts with insertId, typed selects,
 * joins, updates, a transaction (committed and rolled back), and the SQLite introspector reading
 * Trine's catalog.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Kysely, sql } from 'kysely';
import { initNode } from '../../src/server/cluster.ts';
import { TrineNode } from '../../src/server/node.ts';
import { TrineDialect } from '../../src/client/kysely.ts';
import { adminUser, client, freePorts, rejects, tempDir } from '../server/helpers.ts';

interface DB {
  person: { id: number | null; name: string; age: number | null };
  pet: { id: number | null; owner: number; species: string };
}

test('Kysely queries run end to end through the Trine dialect', async () => {
  const admin = adminUser();
  const [port] = await freePorts(1);
  const dir = join(tempDir('kysely'), 'n');
  await initNode({ dir, listen: `127.0.0.1:${port}`, admin: admin.user });
  const node = await TrineNode.open({ dir });
  const c = await client(node.address, admin.pair);
  const db = new Kysely<DB>({ dialect: new TrineDialect({ client: c }) });
  try {
    await db.schema.createTable('person')
      .addColumn('id', 'integer', (col) => col.primaryKey())
      .addColumn('name', 'text', (col) => col.notNull().unique())
      .addColumn('age', 'integer')
      .execute();
    await db.schema.createTable('pet')
      .addColumn('id', 'integer', (col) => col.primaryKey())
      .addColumn('owner', 'integer', (col) => col.notNull().references('person.id'))
      .addColumn('species', 'text', (col) => col.notNull())
      .execute();
    const ins = await db.insertInto('person').values({ name: 'Ada', age: 36 }).executeTakeFirstOrThrow();
    assert.is(ins.insertId, 1n);
    await db.insertInto('person').values([{ name: 'Bob', age: null }, { name: 'Cy', age: 7 }]).execute();
    await db.insertInto('pet').values([{ owner: 1, species: 'cat' }, { owner: 3, species: 'dog' }, { owner: 1, species: 'owl' }]).execute();

    const adults = await db.selectFrom('person').select(['name', 'age']).where('age', '>', 18).execute();
    assert.equal(adults, [{ name: 'Ada', age: 36 }]);
    const joined = await db.selectFrom('pet').innerJoin('person', 'person.id', 'pet.owner')
      .select(['person.name', (eb) => eb.fn.count<number>('pet.id').as('pets')])
      .groupBy('person.name').orderBy('person.name').execute();
    assert.equal(joined, [{ name: 'Ada', pets: 2 }, { name: 'Cy', pets: 1 }]);
    const upd = await db.updateTable('person').set({ age: 37 }).where('name', '=', 'Ada').executeTakeFirst();
    assert.is(upd.numUpdatedRows, 1n);
    const ret = await db.insertInto('person').values({ name: 'Dee', age: 50 }).returning(['id', 'name']).executeTakeFirstOrThrow();
    assert.equal(ret, { id: 4, name: 'Dee' });

    await db.transaction().execute(async (trx) => {
      await trx.deleteFrom('pet').where('species', '=', 'owl').execute();
      await trx.insertInto('pet').values({ owner: 2, species: 'fish' }).execute();
    });
    await rejects(db.transaction().execute(async (trx) => {
      await trx.deleteFrom('pet').execute();
      throw new Error('changed my mind');
    }), (e) => e.message === 'changed my mind');
    const species = await db.selectFrom('pet').select('species').orderBy('species').execute();
    assert.equal(species.map((r) => r.species), ['cat', 'dog', 'fish']);
    await rejects(db.insertInto('person').values({ name: 'Ada', age: 1 }).execute(), (e) => /UNIQUE/.test(e.message));

    const tables = await db.introspection.getTables();
    const person = tables.find((t) => t.name === 'person');
    assert.ok(person, 'the introspector sees the person table');
    assert.equal(person!.columns.map((col) => col.name), ['id', 'name', 'age']);
    const raw = await sql<{ n: number }>`select count(*) as n from person`.execute(db);
    assert.equal(raw.rows, [{ n: 4 }]);
  } finally {
    await db.destroy();
    await c.close();
    await node.close();
  }
});

test.run();
