// Loads a contract module (a .ts file exporting a `defineContract(...)`,
// e.g. the module `clamator codegen zod` writes) for the interop drivers.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyMethodDef, Contract } from '@clamator/protocol';

export type AnyContract = Contract<string, Record<string, AnyMethodDef>>;

function isContract(v: unknown): v is AnyContract {
  return typeof v === 'object' && v !== null
    && typeof (v as { service?: unknown }).service === 'string'
    && typeof (v as { methods?: unknown }).methods === 'object'
    && (v as { methods: unknown }).methods !== null;
}

/** The one contract exported by the module at `file`. */
export async function loadContract(file: string): Promise<AnyContract> {
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as Record<string, unknown>;
  const found = Object.values(mod).filter(isContract);
  if (found.length !== 1 || !found[0]) {
    throw new Error(`${file}: expected exactly one exported contract, found ${found.length}`);
  }
  return found[0];
}

/** `--name value` flags (each at most once) and bare `--switch`es. */
export function parseFlags(argv: string[], valued: string[], switches: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const name = a.replace(/^--/, '');
    if (a.startsWith('--') && switches.includes(name)) {
      out.set(name, 'true');
    } else if (a.startsWith('--') && valued.includes(name)) {
      const v = argv[i + 1];
      if (v === undefined) throw new Error(`${a} needs a value`);
      out.set(name, v);
      i++;
    } else {
      throw new Error(`unknown argument ${JSON.stringify(a)}`);
    }
  }
  return out;
}
