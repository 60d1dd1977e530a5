import { z } from 'zod';
import { defineContract, defineMethod } from '@clamator/protocol';
const r = z.object({ ok: z.boolean() });
// One method per schema feature the generators refuse (docs/CONTRACTS.md,
// "Supported schemas, and what is not"); tests/interop checks each error.
export const unsupportedContract = defineContract('unsup', {
  enumKeys: defineMethod({ params: z.object({ m: z.record(z.enum(['a', 'b']), z.number()) }), result: r }),
  lookahead: defineMethod({ params: z.object({ s: z.string().regex(/^(?=.*\d)[a-z\d]+$/) }), result: r }),
  recordMin: defineMethod({ params: z.object({ m: z.record(z.string(), z.string().min(1)) }), result: r }),
  strParams: defineMethod({ params: z.string(), result: r }),
  tupleRest: defineMethod({ params: z.object({ t: z.tuple([z.string()]).rest(z.number()) }), result: r }),
});
