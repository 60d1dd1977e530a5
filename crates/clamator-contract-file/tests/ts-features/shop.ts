// Test contract for the emitters and the validation parity table
// (tests/interop/tests/parity.rs): a small shop that uses every schema
// feature the contract file supports beyond tests/ts/inventory.ts.
// Exported to tests/contracts/features/shop.json by tools/contract-export.
import { z } from 'zod';
import { defineContract, defineMethod, defineNotification } from '@clamator/protocol';

// Integer money: cents, never floats. Used in several places: one class / const.
const Money = z.object({
  cents: z.number().int().nonnegative(),
  currency: z.enum(['EUR', 'USD']),
});
const Sku = z.string().min(1).max(32).regex(/^[A-Z]{3}-\d{1,6}$/);
const Level = { Debug: 0, Info: 1, Warn: 2 } as const;

// zod-to-json-schema ($refStrategy 'none') cuts the recursion to `{}`.
type Category = { name: string; children: Category[] };
const Category: z.ZodType<Category> = z.lazy(() =>
  z.object({ name: z.string().min(1), children: z.array(Category) }),
);

export const shopContract = defineContract('shop', {
  createUser: defineMethod({
    params: z
      .object({
        email: z.string().email(),
        name: z.string().min(1).max(80).describe('Display name.'),
        initial: z.string().max(1).optional(),
        website: z.string().url().optional(),
        lastIp: z.string().ip().optional(),
        avatar: z.string().base64().optional(),
        role: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),
      })
      .describe('A new user.'),
    result: z.object({ id: z.string().uuid(), createdAt: z.string().datetime() }),
  }),
  placeOrder: defineMethod({
    params: z.object({
      userId: z.string().uuid(),
      lines: z
        .array(z.object({ sku: Sku, quantity: z.number().int().gte(1).lte(100), unitPrice: Money }))
        .min(1)
        .max(100),
      total: Money,
      coupon: z.string().length(8).nullable(),
      deliverOn: z.string().date().optional(),
      window: z.tuple([z.string().time(), z.string().time()]).optional(),
      tags: z.set(z.string().min(1)).max(5).optional(),
      giftWrap: z.boolean().default(false),
      notes: z.array(z.string()).default([]),
      shipping: z
        .object({ speed: z.enum(['standard', 'express']), insured: z.boolean() })
        .strict()
        .default({ speed: 'standard', insured: false }),
    }),
    result: z.discriminatedUnion('ok', [
      z.object({ ok: z.literal(true), orderId: z.string().uuid() }),
      z.object({ ok: z.literal(false), reason: z.string() }),
    ]),
  }),
  search: defineMethod({
    params: z.object({
      query: z.union([z.string().min(1), z.number().int()]),
      code: z.union([z.string(), z.number()]).optional(),
      limit: z.number().int().positive().lte(100).default(20),
      offset: z.number().int().nonnegative().default(0),
      minRating: z.number().gte(0).lte(5).multipleOf(0.5).optional(),
      filter: z
        .union([
          z.object({ sku: Sku }).strict(),
          z.object({ category: z.string(), maxPrice: Money.optional() }).strict(),
        ])
        .optional(),
    }),
    result: z.object({
      items: z.array(z.object({ sku: Sku, title: z.string(), price: Money })),
      next: z.number().int().nullable(),
    }),
  }),
  logged: defineNotification({
    params: z.object({
      at: z.string().datetime(),
      version: z.literal(2),
      level: z.nativeEnum(Level),
      source: z.object({ host: z.string() }).and(z.object({ pid: z.number().int() })),
      counters: z.object({ origin: z.string() }).catchall(z.number()),
      ack: z.null(),
      took: z.string().duration().optional(),
      peer: z.string().ip({ version: 'v4' }).optional(),
      category: Category.optional(),
    }),
  }),
});
