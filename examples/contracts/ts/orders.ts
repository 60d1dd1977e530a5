// A contract as a TypeScript member of the family writes it (Zod 3).
// Export it:   node tools/contract-export/export.mjs --src examples/contracts/ts --out examples/contracts/orders.json
import { z } from 'zod';
import { defineContract, defineMethod, defineNotification } from '@clamator/protocol';

export const ordersContract = defineContract('orders', {
  place: defineMethod({
    params: z.object({
      customerId: z.string(),
      lines: z.array(z.object({ sku: z.string(), quantity: z.number().int().nonnegative() })),
      note: z.string().optional(),
      express: z.boolean().default(false),
    }),
    result: z.discriminatedUnion('ok', [
      z.object({ ok: z.literal(true), orderId: z.string(), totalItems: z.number().int() }),
      z.object({ ok: z.literal(false), reason: z.enum(['empty', 'out-of-stock']) }),
    ]),
  }),
  cancelled: defineNotification({
    params: z.object({ orderId: z.string(), reason: z.string().nullable() }),
  }),
});
