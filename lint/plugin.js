// Convmap's own lint rules (after VS Code's .eslint-plugin-local/code-layering.ts): each layer lists
// what it may import, main/'s folders stand on floors that import only down, and main/ outside the
// CLI never blocks on the file system. Tested by test/lint/rules.test.ts, which lints snippets that
// break each rule.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));

/** Module names that are Electron (its main, renderer, common and utility entry points). */
const ELECTRON = /^electron(\/.*)?$/;

/**
 * Every module specifier in a file, with the node to report on: static imports and re-exports,
 * `import type`, dynamic `import()`, `require()`, and TypeScript's `import('x').T` types.
 * A dynamic import or require of a computed specifier is reported as such: it cannot be checked.
 */
function forEachSpecifier(context, report) {
  const literal = (node, source) => {
    if (source && source.type === 'Literal' && typeof source.value === 'string') report(node, source.value);
    else if (source && source.type === 'TemplateLiteral' && source.expressions.length === 0) report(node, source.quasis[0].value.cooked);
    else report(node, undefined);
  };
  return {
    ImportDeclaration: (node) => literal(node, node.source),
    ExportNamedDeclaration: (node) => node.source && literal(node, node.source),
    ExportAllDeclaration: (node) => literal(node, node.source),
    ImportExpression: (node) => literal(node, node.source),
    TSImportType: (node) => {
      const arg = node.argument?.type === 'TSLiteralType' ? node.argument.literal : node.argument;
      literal(node, arg);
    },
    TSExternalModuleReference: (node) => literal(node, node.expression),
    CallExpression: (node) => {
      if (node.callee.type === 'Identifier' && node.callee.name === 'require' && node.arguments.length === 1) literal(node, node.arguments[0]);
    },
  };
}

/** The repository-relative target of a relative specifier ('core/api'), else undefined (a package). */
function targetOf(filename, specifier) {
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) return undefined;
  return path.relative(root, path.resolve(path.dirname(filename), specifier)).split(path.sep).join('/');
}

/** `dir/**` matches files under dir; a trailing `*` is any rest (`node:*`, `@scope/*`, `*` alone: anything); else exact. */
function matches(pattern, value) {
  if (pattern.endsWith('/**')) return value.startsWith(pattern.slice(0, -2));
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return value === pattern;
}

/**
 * A rule that reports problems (ESLint's meta.type 'problem'), from its one-line description, its
 * messages by id, its options' JSON schema (none by default) and its visitor factory.
 * @returns {import('eslint').Rule.RuleModule}
 */
function problemRule({ description, messages, schema = [] }, create) {
  return { meta: { type: 'problem', docs: { description }, schema, messages }, create };
}

const layering = problemRule({
  description: 'A layer imports only what its allow-list names: files of listed folders (relative imports) and listed packages.',
  schema: [{
    type: 'object',
    properties: {
      layer: { type: 'string' },
      files: { type: 'array', items: { type: 'string' } },
      packages: { type: 'array', items: { type: 'string' } },
    },
    required: ['layer'],
    additionalProperties: false,
  }],
  messages: {
    file: '{{layer}} may import only from {{allowed}}; "{{specifier}}" is {{target}}.',
    package: '{{layer}} may import only the packages {{allowed}}; "{{specifier}}" is not one of them.',
    computed: '{{layer}}: an import or require of a computed specifier cannot be checked against the layer\'s allow-list.',
  },
}, (context) => {
  const { layer, files = [], packages = [] } = context.options[0];
  return forEachSpecifier(context, (node, specifier) => {
    if (specifier === undefined) {
      // A layer that may import any package (main/) may also pick one at run time (optional dependencies).
      if (!packages.includes('*')) context.report({ node, messageId: 'computed', data: { layer } });
      return;
    }
    const target = targetOf(context.filename, specifier);
    if (target !== undefined) {
      if (!files.some((f) => matches(f, target))) {
        context.report({ node, messageId: 'file', data: { layer, specifier, target, allowed: files.join(', ') || 'nothing' } });
      }
    } else if (!packages.some((p) => matches(p, specifier))) {
      context.report({ node, messageId: 'package', data: { layer, specifier, allowed: packages.join(', ') || 'none' } });
    }
  });
});

/** The floor index of a repository-relative file under `base` ('main/'), by its first folder; -1 when on none. */
function floorIndex(floors, base, file) {
  if (!file.startsWith(base)) return undefined;
  const folder = file.slice(base.length).split('/')[0];
  return floors.findIndex((f) => f.includes(folder));
}

const floors = problemRule({
  description: 'Floors inside a layer: a file imports files of its own floor and the floors below, never one above (options: the layer\'s folder and its floors, bottom first, each a list of sub-folders).',
  schema: [{
    type: 'object',
    properties: {
      base: { type: 'string' },
      floors: { type: 'array', items: { type: 'array', items: { type: 'string' }, minItems: 1 } },
    },
    required: ['base', 'floors'],
    additionalProperties: false,
  }],
  messages: {
    up: '{{file}} is on the floor {{from}}, "{{specifier}}" on the floor {{to}} above it: {{base}} floors import only down ({{order}}).',
    unplaced: '{{folder}} is on no floor of {{base}}: give it one in eslint.config.js (MAIN_FLOORS).',
  },
}, (context) => {
  const { base, floors: table } = context.options[0];
  const file = path.relative(root, context.filename).split(path.sep).join('/');
  const own = floorIndex(table, base, file);
  const name = (i) => table[i].join('+');
  const order = table.map((_, i) => name(i)).join(' < ');
  const folderOf = (f) => base + f.slice(base.length).split('/')[0];
  return forEachSpecifier(context, (node, specifier) => {
    if (specifier === undefined || own === undefined) return;
    const target = targetOf(context.filename, specifier);
    const to = target === undefined ? undefined : floorIndex(table, base, target);
    if (to === undefined) return;
    if (own < 0 || to < 0) {
      context.report({ node, messageId: 'unplaced', data: { folder: folderOf(own < 0 ? file : target), base } });
    } else if (to > own) {
      context.report({ node, messageId: 'up', data: { file, specifier, from: name(own), to: name(to), base, order } });
    }
  });
});

const electronOnlyInGlue = problemRule({
  description: 'Only main/electron/ imports electron (any entry point, also through import() or require()).',
  messages: { electron: '"{{specifier}}": only the Electron glue in main/electron/ imports electron; services stay Electron-free.' },
}, (context) => forEachSpecifier(context, (node, specifier) => {
  if (specifier !== undefined && ELECTRON.test(specifier)) context.report({ node, messageId: 'electron', data: { specifier } });
}));

const FS_MODULES = new Set(['fs', 'node:fs']);

const noSyncFs = problemRule({
  description: 'No synchronous file-system call (fs.*Sync): it blocks the Electron main process or a worker\'s event loop.',
  messages: { sync: '{{name}} blocks the thread: use node:fs/promises (main/ outside the CLI never waits on the disk synchronously).' },
}, (context) => {
  /** Local names bound to the fs module itself (default, namespace or require). */
  const fsNames = new Set();
  const isSync = (name) => typeof name === 'string' && /Sync$/.test(name);
  return {
    ImportDeclaration(node) {
      if (!FS_MODULES.has(node.source.value)) return;
      for (const s of node.specifiers) {
        if (s.type === 'ImportSpecifier') {
          const imported = s.imported.type === 'Identifier' ? s.imported.name : s.imported.value;
          if (isSync(imported)) context.report({ node: s, messageId: 'sync', data: { name: imported } });
        } else {
          fsNames.add(s.local.name);
        }
      }
    },
    VariableDeclarator(node) {
      const init = node.init?.type === 'AwaitExpression' ? node.init.argument : node.init;
      const fromFs = init && ((init.type === 'CallExpression' && init.callee.type === 'Identifier' && init.callee.name === 'require')
        || init.type === 'ImportExpression') && FS_MODULES.has((init.arguments?.[0] ?? init.source)?.value);
      if (!fromFs) return;
      if (node.id.type === 'Identifier') fsNames.add(node.id.name);
      else if (node.id.type === 'ObjectPattern') {
        for (const p of node.id.properties) {
          if (p.type === 'Property' && p.key.type === 'Identifier' && isSync(p.key.name)) context.report({ node: p, messageId: 'sync', data: { name: p.key.name } });
        }
      }
    },
    MemberExpression(node) {
      if (node.object.type !== 'Identifier' || !fsNames.has(node.object.name)) return;
      const name = node.property.type === 'Identifier' && !node.computed ? node.property.name : node.property.value;
      if (isSync(name)) context.report({ node, messageId: 'sync', data: { name: `${node.object.name}.${name}` } });
    },
  };
});

export default {
  meta: { name: 'convmap-local' },
  rules: { layering, floors, 'electron-only-in-glue': electronOnlyInGlue, 'no-sync-fs': noSyncFs },
};
