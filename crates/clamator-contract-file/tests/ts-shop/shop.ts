// Test contract for constraints end to end (Zod -> contract file -> Rust):
// the typical contract the issue tried, plus formats, bounds, tuples,
// untagged unions and an item type shared by two methods.
import { z } from 'zod';
import { defineContract, defineMethod } from '@clamator/protocol';

const Item = z.object({ sku: z.string().min(1).max(32), qty: z.number().int().min(0) });

export const shopContract = defineContract('shop', {
  getItem: defineMethod({
    params: z.object({ sku: z.string().min(1).regex(/^[A-Z]{3}-\d+$/) }),
    result: z.discriminatedUnion('ok', [
      z.object({ ok: z.literal(true), item: Item }),
      z.object({ ok: z.literal(false), reason: z.enum(['not-found']) }),
    ]),
  }),
  putItem: defineMethod({
    params: z.object({
      item: Item,
      skus: z.array(z.string().min(1)).max(100).optional(),
      owner: z.string().email(),
      requestId: z.string().uuid(),
      at: z.string().datetime(),
      priceCents: z.number().int().positive().max(1_000_000),
      weight: z.number().multipleOf(0.5).gt(0).lt(1000),
      point: z.tuple([z.number(), z.number()]),
      tag: z.union([z.string().min(2), z.number().int()]),
      level: z.union([z.literal(1), z.literal(2), z.literal(3)]),
      labels: z.set(z.string()),
      note: z.string().max(5).nullable(),
    }),
    result: z.object({ stored: z.number().int().min(0) }),
  }),
});
