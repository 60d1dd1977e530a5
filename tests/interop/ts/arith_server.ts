// The TypeScript twin of py/arith_server.py: a TypeScript peer server
// (@clamator/over-redis RedisRpcServer) hosting the `arith` contract given by
// --contract (the module `clamator codegen zod` writes from the Rust contract
// in crates/clamator-arith; the peer validates params and results with its
// Zod schemas).
//
//   node --import tsx interop/arith_server.ts --key-prefix P --contract FILE
//     [--redis-url URL] [--instance-id ID] [--claim-idle-ms N (60000)]
//     [--trace-calls] [--max-concurrency N (ignored: the peer is serial)]
//
// Prints READY on stdout once started (consumer group created, loops
// running); with --trace-calls also `CALL arith.<method>` each time a
// handler runs. SIGINT / SIGTERM: a graceful stop, exit 0. Logs go to stderr.
import { randomUUID } from 'node:crypto';
import { RedisRpcServer, RpcError } from '@clamator/over-redis';
import { loadContract, parseFlags } from './contract.js';

type Handler = (params: Record<string, unknown>) => Promise<unknown>;

function handlers(instanceId: string, trace: boolean): Record<string, Handler> {
  let pings = 0;
  const t = (m: string) => { if (trace) process.stdout.write(`CALL arith.${m}\n`); };
  const num = (p: Record<string, unknown>, k: string) => p[k] as number;
  return {
    add: async p => { t('add'); return { sum: num(p, 'a') + num(p, 'b') }; },
    slowAdd: async p => {
      t('slowAdd');
      const ms = num(p, 'sleepMs');
      await new Promise(r => setTimeout(r, Number.isFinite(ms) && ms > 0 ? ms : 0));
      return { sum: num(p, 'a') + num(p, 'b') };
    },
    divide: async p => {
      t('divide');
      if (num(p, 'b') === 0) throw new RpcError(-32000, 'division by zero', { a: num(p, 'a') });
      return { q: num(p, 'a') / num(p, 'b') };
    },
    echoText: async p => { t('echoText'); return { text: p.text }; },
    ping: async () => { t('ping'); pings += 1; },
    pingCount: async () => { t('pingCount'); return { count: pings }; },
    fail: async p => { t('fail'); throw new Error(String(p.message)); },
    // Breaks the contract on purpose: the peer validates results, so this is
    // -32603 "Result validation failed".
    badResult: async () => { t('badResult'); return { sum: 'not a number' }; },
    whoami: async () => { t('whoami'); return { server: `ts:${instanceId}` }; },
  };
}

async function main(): Promise<void> {
  const flags = parseFlags(process.argv.slice(2),
    ['redis-url', 'key-prefix', 'instance-id', 'claim-idle-ms', 'contract', 'max-concurrency'],
    ['trace-calls']);
  const keyPrefix = flags.get('key-prefix');
  if (!keyPrefix) throw new Error('--key-prefix is required');
  const contractFile = flags.get('contract');
  if (!contractFile) throw new Error('--contract is required');
  const redisUrl = flags.get('redis-url') ?? process.env.REDIS_URL ?? 'redis://localhost:6379';
  const instanceId = flags.get('instance-id') ?? randomUUID();
  const claimIdleMs = Number(flags.get('claim-idle-ms') ?? '60000');
  if (!Number.isFinite(claimIdleMs) || claimIdleMs <= 0) throw new Error('--claim-idle-ms must be a positive number');

  const contract = await loadContract(contractFile);
  const impl = handlers(instanceId, flags.has('trace-calls'));
  const methods = Object.keys(contract.methods).sort();
  const implemented = Object.keys(impl).sort();
  if (contract.service !== 'arith' || JSON.stringify(methods) !== JSON.stringify(implemented)) {
    throw new Error(`${contractFile} is not the arith contract this server implements: `
      + `service ${contract.service}, methods ${methods.join(',')} (implemented: ${implemented.join(',')})`);
  }
  const server = new RedisRpcServer({ redisUrl, keyPrefix, instanceId, consumerClaimIdleMs: claimIdleMs });
  server.registerService(contract, impl as never);
  await server.start();
  console.error(`arith server ${instanceId} started on prefix ${JSON.stringify(keyPrefix)}`);
  process.stdout.write('READY\n');

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    console.error(`arith server ${instanceId} stopping`);
    server.stop().then(() => process.exit(0), (e: unknown) => {
      console.error('arith_server: stop failed:', e);
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  console.error('arith_server:', e);
  process.exit(2);
});
