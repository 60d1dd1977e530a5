// The TypeScript twin of py/client_driver.py and interop-client: drives a
// clamator server through the TypeScript peer's client (@clamator/over-redis)
// with a JSON array of call specs read from stdin, printing one JSON line per
// spec, in input order. Same flags, specs and output lines (py/README.md):
//
//   node --import tsx interop/client_driver.ts --key-prefix P [--redis-url URL]
//     [--timeout-ms N (30000)] [--concurrent] [--contract FILE] < specs.json
//
// `typed` specs go through the contract module named by --contract (e.g. the
// one `clamator codegen zod` writes): its Zod schemas parse the params before
// the call and the result after it. A spec that fails locally is
// {"otherError": "<Error name>: <message>"} (a ZodError for typed params or a
// typed result that do not fit).
import { randomUUID } from 'node:crypto';
import IORedis, { type Redis } from 'ioredis';
import { RpcClientCore, RpcError, ClamatorProtocolError, ClamatorTransportError } from '@clamator/protocol';
import { ClientRedisTransport, commandStream, replyStream } from '@clamator/over-redis';
import type { z } from 'zod';
import { loadContract, parseFlags, type AnyContract } from './contract.js';

type Json = unknown;
type Spec = Record<string, Json>;

function splitMethod(full: string): [string, string] {
  const dot = full.indexOf('.');
  return dot < 0 ? [full, ''] : [full.slice(0, dot), full.slice(dot + 1)];
}

function millis(v: Json, fallback: number, what: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    throw new Error(`${what} must be a non-negative number of milliseconds, got ${JSON.stringify(v)}`);
  }
  return v;
}

class Driver {
  private readonly transport: ClientRedisTransport;
  // The peer's client takes its timeout per client, not per call: one core
  // per timeout, all on ONE transport (one reply stream and reply loop), so a
  // late reply to a call that timed out reaches the loop the next call waits on.
  private readonly cores = new Map<number, RpcClientCore>();
  private readonly main: RpcClientCore;
  private raw: Redis | null = null;

  constructor(
    private readonly redisUrl: string,
    private readonly keyPrefix: string,
    private readonly timeoutMs: number,
    private readonly contract: AnyContract | null,
  ) {
    this.transport = new ClientRedisTransport({ redisUrl, keyPrefix });
    this.main = this.core(timeoutMs);
  }

  private core(timeoutMs: number): RpcClientCore {
    let c = this.cores.get(timeoutMs);
    if (!c) {
      c = new RpcClientCore(this.transport, { defaultTimeoutMs: timeoutMs });
      this.cores.set(timeoutMs, c);
    }
    return c;
  }

  async start(): Promise<void> {
    await this.main.start();
  }

  async stop(): Promise<void> {
    await this.main.stop();
    if (this.raw) await this.raw.quit().catch(() => undefined);
  }

  async run(spec: Spec): Promise<Record<string, Json>> {
    try {
      return await this.runSpec(spec);
    } catch (e) {
      if (e instanceof RpcError) return { error: { code: e.code, message: e.message, data: e.data } };
      if (e instanceof ClamatorTransportError) return { transportError: e.message };
      if (e instanceof ClamatorProtocolError) return { protocolError: e.message };
      if (e instanceof Error) return { otherError: `${e.name}: ${e.message}` };
      return { otherError: String(e) };
    }
  }

  private async runSpec(spec: Spec): Promise<Record<string, Json>> {
    const params = spec.params ?? {};
    if (typeof spec.method === 'string') {
      const [service, method] = splitMethod(spec.method);
      const core = this.core(millis(spec.timeoutMs, this.timeoutMs, 'timeoutMs'));
      return { ok: await core.call(service, method, params) };
    }
    if (typeof spec.notify === 'string') {
      const [service, method] = splitMethod(spec.notify);
      await this.main.notify(service, method, params);
      return { ok: null };
    }
    if (typeof spec.typed === 'string') return { ok: await this.typed(spec.typed, params) };
    if (spec.raw !== undefined) {
      return this.rawCall(spec.raw, millis(spec.timeoutMs, this.timeoutMs, 'timeoutMs'));
    }
    if (spec.sleepMs !== undefined) {
      const ms = millis(spec.sleepMs, 0, 'sleepMs');
      await new Promise(r => setTimeout(r, ms));
      return { ok: null };
    }
    throw new Error(`unrecognised spec: ${JSON.stringify(spec)}`);
  }

  /** A call through the contract's Zod schemas, by wire method name. */
  private async typed(method: string, params: Json): Promise<Json> {
    const contract = this.contract;
    if (!contract) throw new Error('typed specs need --contract');
    const def = contract.methods[method];
    if (!def) throw new Error(`the ${contract.service} contract has no method ${JSON.stringify(method)}`);
    const checked = def.params.parse(params) as Json;
    if (def.notification === true) {
      await this.main.notify(contract.service, method, checked);
      return null;
    }
    const result = await this.main.call(contract.service, method, checked);
    return (def.result as z.ZodTypeAny).parse(result) as Json;
  }

  /** XADD an envelope as is, and read one reply from a private stream. */
  private async rawCall(envelope: Json, timeoutMs: number): Promise<Record<string, Json>> {
    const method = (envelope as { method?: unknown } | null)?.method;
    if (typeof method !== 'string') throw new Error('a raw envelope needs a string method');
    const [service] = splitMethod(method);
    this.raw ??= new IORedis(this.redisUrl);
    const raw = this.raw;
    const replyTo = replyStream(this.keyPrefix, `raw-${randomUUID()}`);
    try {
      await raw.xadd(commandStream(this.keyPrefix, service), '*',
        'type', 'rpc', 'envelope', JSON.stringify(envelope), 'reply-to', replyTo);
      const read = await raw.xread('COUNT', 1, 'BLOCK', timeoutMs, 'STREAMS', replyTo, '0');
      const fields = read?.[0]?.[1]?.[0]?.[1];
      if (!fields) return { transportError: 'call timeout' };
      const at = fields.indexOf('envelope');
      if (at < 0) throw new Error('the reply has no envelope field');
      return { reply: JSON.parse(fields[at + 1] ?? '') as Json };
    } finally {
      await raw.del(replyTo);
    }
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function emit(out: Record<string, Json>): void {
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2),
    ['redis-url', 'key-prefix', 'timeout-ms', 'contract'], ['concurrent']);
  const keyPrefix = flags.get('key-prefix');
  if (!keyPrefix) throw new Error('--key-prefix is required');
  const redisUrl = flags.get('redis-url') ?? process.env.REDIS_URL ?? 'redis://localhost:6379';
  const timeoutMs = Number(flags.get('timeout-ms') ?? '30000');
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw new Error('--timeout-ms must be a number');
  const contractFile = flags.get('contract');
  const contract = contractFile ? await loadContract(contractFile) : null;
  const specs = JSON.parse(await readStdin()) as unknown;
  if (!Array.isArray(specs)) throw new Error('stdin must hold a JSON array of call specs');

  const driver = new Driver(redisUrl, keyPrefix, timeoutMs, contract);
  await driver.start();
  try {
    if (flags.has('concurrent')) {
      for (const out of await Promise.all(specs.map(s => driver.run(s as Spec)))) emit(out);
    } else {
      for (const s of specs) emit(await driver.run(s as Spec));
    }
  } finally {
    await driver.stop();
  }
}

main().then(
  () => process.stdout.write('', () => process.exit(0)),
  (e: unknown) => {
    console.error('client_driver:', e);
    process.exit(2);
  },
);
