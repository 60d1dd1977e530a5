#!/usr/bin/env node
// Zod's decisions for the validation parity table (tests/interop/tests/parity.rs).
//
//   node validate.mjs TOOLS_DIR MODULE.ts < rows.json
//
// TOOLS_DIR is tools/contract-export (after its setup.sh: zod, tsx and the
// @clamator/protocol shim). MODULE.ts exports a contract ({service,
// methods}); rows are [{"method", "payload"}]; prints a JSON list of
// booleans: whether `methods[method].params.safeParse(payload)` succeeded.
import { readFileSync } from 'node:fs';
import { Module } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [tools, modulePath] = process.argv.slice(2);
if (!tools || !modulePath) {
  console.error('usage: node validate.mjs TOOLS_DIR MODULE.ts < rows.json');
  process.exit(2);
}
process.env.NODE_PATH = [path.join(tools, 'node_modules'), path.join(tools, 'shim'), process.env.NODE_PATH]
  .filter(Boolean)
  .join(path.delimiter);
Module._initPaths();
const { tsImport } = await import(pathToFileURL(path.join(tools, 'node_modules/tsx/dist/esm/api/index.mjs')).href);
const mod = await tsImport(pathToFileURL(path.resolve(modulePath)).href, import.meta.url);
const contract = Object.values(mod).find((v) => v && typeof v === 'object' && typeof v.service === 'string' && v.methods);
if (!contract) {
  console.error(`no contract exported by ${modulePath}`);
  process.exit(1);
}
const rows = JSON.parse(readFileSync(0, 'utf-8'));
const out = rows.map(({ method, payload }) => {
  const def = contract.methods[method];
  if (!def) throw new Error(`no method ${method}`);
  return def.params.safeParse(payload).success;
});
process.stdout.write(JSON.stringify(out));
