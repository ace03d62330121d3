import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import ts from 'typescript';

export const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export interface RouteParam {
	name: string;
	optional: boolean;
	rest: boolean;
}

/** One folder of src/routes that answers requests: a page, an endpoint, or both. */
export interface DiscoveredRoute {
	/** SvelteKit's route id, groups included: `/(app)/dashboard/chat/[id]`. */
	id: string;
	/** Has a +page.svelte, +page.ts or +page.server.ts. */
	page: boolean;
	/** Form action names from `export const actions` in +page.server.ts (`default` included). */
	actions: string[];
	/** Methods exported by +server.ts. */
	methods: HttpMethod[];
	params: RouteParam[];
}

const PAGE_FILE = /^\+page(@[^.]*)?\.(svelte|ts|js)$/;
const PAGE_SERVER_FILE = /^\+page\.server\.(ts|js)$/;
const SERVER_FILE = /^\+server\.(ts|js)$/;
const PARAM = /\[(\[)?(\.\.\.)?([^\]=]+)(?:=[^\]]+)?\]\]?/g;

/**
 * Every route under `routesDir`, read from disk, so a route added tomorrow is walked without
 * anyone remembering to list it. Exports are read with the TypeScript parser; an `actions` export
 * the parser cannot enumerate throws rather than being skipped.
 */
export function discoverRoutes(routesDir: string): DiscoveredRoute[] {
	const routes: DiscoveredRoute[] = [];
	const visit = (dir: string) => {
		const entries = readdirSync(dir, { withFileTypes: true });
		const files = entries.filter((e) => e.isFile()).map((e) => e.name);
		const id = '/' + relative(routesDir, dir).split(sep).filter(Boolean).join('/');
		const pageServer = files.find((f) => PAGE_SERVER_FILE.test(f));
		const page = Boolean(pageServer) || files.some((f) => PAGE_FILE.test(f));
		const server = files.find((f) => SERVER_FILE.test(f));
		if (page || server) {
			routes.push({
				id,
				page,
				actions: pageServer ? exportedActions(join(dir, pageServer)) : [],
				methods: server ? exportedMethods(join(dir, server)) : [],
				params: routeParams(id)
			});
		}
		for (const entry of entries) if (entry.isDirectory()) visit(join(dir, entry.name));
	};
	visit(routesDir);
	return routes.sort((a, b) => a.id.localeCompare(b.id));
}

/** `[id]`, `[[lang]]`, `[...rest]` and `[id=matcher]` params of a route id, in order. */
export function routeParams(id: string): RouteParam[] {
	return [...id.matchAll(PARAM)].map((m) => ({
		name: m[3],
		optional: Boolean(m[1]),
		rest: Boolean(m[2])
	}));
}

/** The URL path of a route id: groups dropped, each param replaced by `fill(param)`. */
export function routePath(id: string, fill: (param: RouteParam) => string): string {
	const segments = id
		.split('/')
		.filter((s) => s && !/^\(.+\)$/.test(s))
		.map((segment) =>
			segment.replace(PARAM, (_, optional, rest, name) =>
				fill({ name, optional: Boolean(optional), rest: Boolean(rest) })
			)
		)
		.filter(Boolean);
	return '/' + segments.join('/');
}

function parse(file: string): ts.SourceFile {
	return ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
}

const isExported = (node: ts.Node) =>
	ts.canHaveModifiers(node) &&
	(ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);

/** Names this module exports: `export const X`, `export (async) function X`, `export { a as X }`. */
function exportedNames(source: ts.SourceFile): Map<string, ts.Node> {
	const names = new Map<string, ts.Node>();
	for (const statement of source.statements) {
		if (ts.isVariableStatement(statement) && isExported(statement)) {
			for (const declaration of statement.declarationList.declarations) {
				if (ts.isIdentifier(declaration.name)) names.set(declaration.name.text, declaration);
			}
		} else if (ts.isFunctionDeclaration(statement) && isExported(statement) && statement.name) {
			names.set(statement.name.text, statement);
		} else if (
			ts.isExportDeclaration(statement) &&
			statement.exportClause &&
			ts.isNamedExports(statement.exportClause)
		) {
			for (const element of statement.exportClause.elements) {
				names.set(element.name.text, element);
			}
		}
	}
	return names;
}

function exportedMethods(file: string): HttpMethod[] {
	const names = exportedNames(parse(file));
	if (names.has('fallback')) {
		throw new Error(`${file} exports \`fallback\`: teach the route walker which methods to send.`);
	}
	return HTTP_METHODS.filter((method) => names.has(method));
}

function exportedActions(file: string): string[] {
	const declaration = exportedNames(parse(file)).get('actions');
	if (!declaration) return [];
	let value = ts.isVariableDeclaration(declaration) ? declaration.initializer : undefined;
	while (
		value &&
		(ts.isSatisfiesExpression(value) ||
			ts.isAsExpression(value) ||
			ts.isParenthesizedExpression(value))
	) {
		value = value.expression;
	}
	if (!value || !ts.isObjectLiteralExpression(value)) {
		throw new Error(`${file}: \`actions\` is not an object literal the route walker can read.`);
	}
	return value.properties.map((property) => {
		const name = property.name;
		if (!name || !(ts.isIdentifier(name) || ts.isStringLiteral(name))) {
			throw new Error(`${file}: an action name the route walker cannot read.`);
		}
		return name.text;
	});
}
