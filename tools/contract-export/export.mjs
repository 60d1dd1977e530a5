#!/usr/bin/env node
// clamator-contract-export: TypeScript/Zod clamator contracts -> contract file.
//
//   node export.mjs --src DIR [--out FILE] [--manifest FILE]
//
// Loads every *.ts file in DIR (not recursive) with tsx, keeps the exports
// shaped {service, methods}, and lowers each method's params and result the
// way the family's codegen does: zod-to-json-schema with target jsonSchema7
// and $refStrategy none, hash = sha256 hex of JSON.stringify(schema).
// Methods are sorted by name and contracts by service (localeCompare, as the
// family does). The contract file (docs/CONTRACTS.md in clamator-rs) is a
// JSON array of {service, sourceFile, methods: [{name, isNotification,
// params: {jsonSchema, hash}, result: {jsonSchema, hash} | null}]}, written
// with two-space indentation; --manifest also writes the family's
// manifest.json. Contract files import `zod` and `@clamator/protocol`; both
// resolve to this tool's pinned copies (a shim for the latter).
import { createHash } from 'node:crypto';
import { readdirSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

// Bare `zod` / `@clamator/protocol` imports in the contract files resolve here.
process.env.NODE_PATH = [path.join(here, 'node_modules'), path.join(here, 'shim'), process.env.NODE_PATH]
  .filter(Boolean)
  .join(path.delimiter);
Module._initPaths();

const require = createRequire(import.meta.url);
const { tsImport } = await import('tsx/esm/api');
const { zodToJsonSchema } = require('zod-to-json-schema');

function usage(msg) {
  if (msg) console.error(`clamator-contract-export: ${msg}`);
  console.error('usage: node export.mjs --src DIR [--out FILE] [--manifest FILE]');
  process.exit(2);
}

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') usage();
    const key = { '--src': 'src', '--out': 'out', '--manifest': 'manifest' }[a];
    if (!key) usage(`unknown argument ${a}`);
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    out[key] = argv[++i];
  }
  if (!out.src) usage('--src DIR is required');
  return out;
}

function lower(schema) {
  const jsonSchema = zodToJsonSchema(schema, { target: 'jsonSchema7', $refStrategy: 'none' });
  const hash = createHash('sha256').update(JSON.stringify(jsonSchema)).digest('hex');
  return { jsonSchema, hash };
}

function isContract(v) {
  return typeof v === 'object' && v !== null && typeof v.service === 'string'
    && typeof v.methods === 'object' && v.methods !== null;
}

async function load(srcDir) {
  const files = readdirSync(srcDir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => path.join(srcDir, e.name));
  const found = [];
  for (const file of files) {
    const mod = await tsImport(pathToFileURL(path.resolve(file)).href, import.meta.url);
    for (const v of Object.values(mod)) {
      if (isContract(v)) found.push({ contract: v, sourceFile: path.basename(file) });
    }
  }
  return found;
}

const args = parseArgs(process.argv.slice(2));
const loaded = await load(args.src);
if (loaded.length === 0) {
  console.error(`clamator-contract-export: no contract (an export shaped {service, methods}) in ${args.src}/*.ts`);
  process.exit(1);
}
const contracts = loaded
  .map(({ contract, sourceFile }) => ({
    service: contract.service,
    sourceFile,
    methods: Object.entries(contract.methods)
      .map(([name, def]) => {
        const isNotification = def.notification === true;
        return {
          name,
          isNotification,
          params: lower(def.params),
          result: isNotification ? null : lower(def.result),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name)),
  }))
  .sort((a, b) => a.service.localeCompare(b.service) || a.sourceFile.localeCompare(b.sourceFile));

const text = JSON.stringify(contracts, null, 2) + '\n';
if (args.out) writeFileSync(args.out, text, 'utf-8');
else process.stdout.write(text);

if (args.manifest) {
  const manifest = { generatedBy: '@clamator/codegen v0.1.0', contracts: {} };
  for (const c of contracts) {
    const entry = {};
    manifest.contracts[c.service] = entry;
    for (const m of c.methods) entry[m.name] = { paramsHash: m.params.hash, resultHash: m.result?.hash ?? null };
  }
  writeFileSync(args.manifest, JSON.stringify(manifest, null, 2) + '\n', 'utf-8');
}
