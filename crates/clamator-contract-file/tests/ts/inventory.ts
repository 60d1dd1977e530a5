// Test contract for the exporter and the emitters: one of each schema
// feature the contract file supports.
import { z } from 'zod';
import { defineContract, defineMethod, defineNotification } from '@clamator/protocol';

const Dimensions = z.object({ widthMm: z.number(), heightMm: z.number() });

export const inventoryContract = defineContract('inventory', {
  addItem: defineMethod({
    params: z.object({
      sku: z.string(),
      quantity: z.number().int(),
      stock: z.number().int().nonnegative(),
      price: z.number(),
      fragile: z.boolean(),
      note: z.string().optional(),
      supplier: z.string().nullable(),
      color: z.enum(['red', 'green', 'blue']),
      tags: z.array(z.string()),
      attributes: z.record(z.string(), z.number()),
      dimensions: Dimensions,
      priority: z.number().int().default(3),
    }),
    result: z.object({ id: z.string(), total: z.number().int() }),
  }),
  getItem: defineMethod({
    params: z.object({ id: z.string() }),
    result: z.discriminatedUnion('ok', [
      z.object({ ok: z.literal(true), item: z.object({ sku: z.string(), quantity: z.number().int() }) }),
      z.object({ ok: z.literal(false), reason: z.enum(['not-found', 'archived']) }),
    ]),
  }),
  move: defineMethod({
    params: z.object({
      id: z.string(),
      to: z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('shelf'), shelf: z.number().int() }),
        z.object({ kind: z.literal('truck'), plate: z.string(), eta: z.string().nullable() }),
      ]),
    }),
    result: z.object({ moved: z.boolean() }),
  }),
  restocked: defineNotification({
    params: z.object({ sku: z.string(), quantity: z.number().int() }),
  }),
});
