// `postinstall`: fixes a crash in postgres.js 3.4.9 (the driver), in node_modules, until a release
// fixes it (porsager/postgres#1154 and #1208; the guard is the one proposed in #1209).
//
// The driver flushes small writes from a setImmediate. When the connection closes in between, the
// flush calls write() on a socket that is now null; the TypeError is thrown where no caller can
// catch it, and the process dies. A transaction whose backend is gone meets it every time: its
// own ROLLBACK is that write. And because closing cancels the pending flush without forgetting
// it, the connection could never flush again after a reconnect. Patched:
//   - a flush on a closed connection fails the waiting queries with CONNECTION_CLOSED instead;
//   - closing forgets the pending flush and what it would have written, and the error the
//     server sent before it closed (57P01 when it shuts down), which the first query on the
//     reconnected connection was otherwise failed with.
// tests/db/postgres-driver.test.ts proves it. Plain JavaScript and no dependency, so that it runs
// in any install. Another driver version fails the install here, so that nobody upgrades without
// looking whether the new one still needs this.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const VERSION = '3.4.9';
const MARK = '/* credit-chat: src/cli/patch-postgres.js */';

const flush = `  function nextWrite(fn) {
    const x = socket.write(chunk, fn)`;
const guardedFlush = `  function nextWrite(fn) {
    ${MARK}
    if (socket === null) {
      chunk = nextWriteTimer = null
      error(Errors.connection('CONNECTION_CLOSED', options))
      return false
    }
    const x = socket.write(chunk, fn)`;
const cancel = `\n    clearImmediate(nextWriteTimer)\n`;
const forget = `\n    clearImmediate(nextWriteTimer)\n    chunk = nextWriteTimer = null\n`;
const close = `  async function closed(hadError) {\n`;
const closeForgettingError = `${close}    errorResponse = null\n`;

const require = createRequire(import.meta.url);
/** @param {string} dir */
const manifest = (dir) => {
	const file = join(dir, 'package.json');
	if (dir === dirname(dir)) throw new Error('no package.json of postgres');
	return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
};
let root;
try {
	// The package's exports do not include its package.json: walk up from its entry point (cjs/
	// has a package.json of its own, without a name).
	root = dirname(require.resolve('postgres'));
	while (manifest(root)?.name !== 'postgres') root = dirname(root);
} catch {
	console.log('patch-postgres: postgres is not installed; nothing to patch');
	process.exit(0);
}
const { version } = manifest(root);
if (version !== VERSION) {
	console.error(
		`patch-postgres: postgres ${version} is installed, the patch is for ${VERSION}. See whether ` +
			`${version} still crashes on a write after close (tests/db/postgres-driver.test.ts), ` +
			`then update or delete src/cli/patch-postgres.js and the postinstall script.`
	);
	process.exit(1);
}

for (const build of ['src', 'cjs/src', 'cf/src']) {
	const file = join(root, build, 'connection.js');
	if (!existsSync(file)) continue;
	const text = readFileSync(file, 'utf8');
	if (text.includes(MARK)) continue;
	// Exactly the expected text, or nothing: one flush, two teardowns (terminate, closed).
	if (
		text.split(flush).length !== 2 ||
		text.split(cancel).length !== 3 ||
		text.split(close).length !== 2
	) {
		console.error(`patch-postgres: ${file} is not the expected ${VERSION} source`);
		process.exit(1);
	}
	writeFileSync(
		file,
		text
			.replace(flush, guardedFlush)
			.replaceAll(cancel, forget)
			.replace(close, closeForgettingError)
	);
	console.log(`patch-postgres: patched ${file}`);
}
