import { grantAdmin } from '../lib/server/auth/admin-role';
import { fail, openCliContext } from './context';

const email = process.argv[2];
if (!email) fail('Usage: npm run admin:grant -- <email>');

const { database } = await openCliContext();
const result = await grantAdmin(database.db, email);
await database.close();

if (result === 'no-such-user') fail(`No user has the email ${email}. They must sign up first.`);
console.log(result === 'promoted' ? `${email} is now an admin.` : `${email} was already an admin.`);
