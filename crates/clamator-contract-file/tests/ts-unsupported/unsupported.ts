import { z } from 'zod';
import { defineContract, defineMethod } from '@clamator/protocol';
const r = z.object({ ok: z.boolean() });
// One method per schema feature the generators refuse (docs/CONTRACTS.md,
// "Supported schemas, and what is not"); tests/interop checks each error.
export const unsupportedContract = defineContract('unsup', {
  minLen: defineMethod({ params: z.object({ s: z.string().min(1) }), result: r }),
  email: defineMethod({ params: z.object({ s: z.string().email() }), result: r }),
  positive: defineMethod({ params: z.object({ n: z.number().int().positive() }), result: r }),
  union: defineMethod({ params: z.object({ u: z.union([z.string(), z.number()]) }), result: r }),
  objUnion: defineMethod({ params: z.object({ u: z.union([z.object({a: z.string()}), z.object({b: z.string()})]) }), result: r }),
  tuple: defineMethod({ params: z.object({ t: z.tuple([z.string(), z.number()]) }), result: r }),
  catchall: defineMethod({ params: z.object({ a: z.string() }).catchall(z.number()), result: r }),
  numLit: defineMethod({ params: z.object({ n: z.literal(5) }), result: r }),
  inter: defineMethod({ params: z.object({ i: z.object({a: z.string()}).and(z.object({b: z.string()})) }), result: r }),
  nul: defineMethod({ params: z.object({ n: z.null() }), result: r }),
  objDefault: defineMethod({ params: z.object({ d: z.object({a: z.string()}).default({a: 'x'}) }), result: r }),
  strParams: defineMethod({ params: z.string(), result: r }),
  datetime: defineMethod({ params: z.object({ s: z.string().datetime() }), result: r }),
  nativeNum: defineMethod({ params: z.object({ e: z.union([z.literal(1), z.literal(2)]) }), result: r }),
});
