import { openCliContext } from './context';

const { config, database } = await openCliContext();
console.log(`Migrations from ${config.migrationsDir}/ applied to the ${database.kind} database.`);
await database.close();
