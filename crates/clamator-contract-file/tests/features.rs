//! The Python and Zod generated from `tests/contracts/features/shop.json`
//! (exported from `tests/ts-features/shop.ts`): one check per feature.
//! Their behaviour is checked against Zod and pydantic themselves in
//! tests/interop (`parity.rs`, `contracts.rs`).
#![allow(clippy::unwrap_used, missing_docs)]

use clamator_contract_file::{ContractFile, python, zod};

const CONTRACT: &str = "tests/contracts/features/shop.json";

fn generated() -> (String, String) {
    let file = ContractFile::read(std::path::Path::new(CONTRACT)).unwrap();
    let py = python::generate(&file.contracts[0], "shop.json").unwrap();
    let ts = zod::generate(&file.contracts[0], "shop.json").unwrap();
    if let Ok(dir) = std::env::var("CLAMATOR_DUMP_GENERATED") {
        std::fs::write(format!("{dir}/shop.py"), &py).unwrap();
        std::fs::write(format!("{dir}/shop.ts"), &ts).unwrap();
    }
    (py, ts)
}

fn has(out: &str, wants: &[&str]) {
    for want in wants {
        assert!(out.contains(want), "missing {want:?} in:\n{out}");
    }
}

#[test]
fn python_has_every_feature() {
    let (py, _) = generated();
    has(
        &py,
        &[
            // Shared object: one class, named after the field where first seen.
            "class UnitPrice(BaseModel):",
            "    unit_price: UnitPrice = Field(..., alias=\"unitPrice\")\n",
            "    total: UnitPrice\n",
            "    max_price: UnitPrice | None = Field(None, alias=\"maxPrice\")\n",
            "    price: UnitPrice\n",
            // Strings.
            "    email: Annotated[_Str, AfterValidator(_email)]\n",
            "    name: Annotated[_Str, Field(min_length=1, max_length=80)] = Field(..., description=\"Display name.\")\n",
            "    initial: Annotated[_Str, Field(max_length=1)] | None = None\n",
            "    website: Annotated[_Str, AfterValidator(_uri)] | None = None\n",
            "    last_ip: Annotated[_Str, AfterValidator(_ip)] | None = Field(None, alias=\"lastIp\")\n",
            "    avatar: Annotated[_Str, AfterValidator(_base64)] | None = None\n",
            "    sku: Annotated[_Str, Field(min_length=1, max_length=32), _pattern(\"^[A-Z]{3}-[0-9]{1,6}\\\\Z\")]\n",
            "    user_id: Annotated[_Str, AfterValidator(_uuid)] = Field(..., alias=\"userId\")\n",
            "    created_at: Annotated[_Str, AfterValidator(_date_time)] = Field(..., alias=\"createdAt\")\n",
            "    deliver_on: Annotated[_Str, AfterValidator(_date)] | None = Field(None, alias=\"deliverOn\")\n",
            "    took: Annotated[_Str, AfterValidator(_duration)] | None = None\n",
            "    peer: Annotated[_Str, AfterValidator(_ipv4)] | None = None\n",
            "    coupon: Annotated[_Str, Field(min_length=8, max_length=8)] | None\n",
            // Numbers.
            "    quantity: Annotated[_UInt, Field(ge=1, le=100)]\n",
            "    cents: _UInt\n",
            "    limit: Annotated[_UInt, Field(gt=0, le=100)] = 20\n",
            "    offset: _UInt = 0\n",
            "    min_rating: Annotated[_Float, Field(ge=0, le=5, multiple_of=0.5)] | None = Field(None, alias=\"minRating\")\n",
            "    next: _Int | None\n",
            // Literals and enums.
            "    role: Annotated[Literal[1, 2, 3], BeforeValidator(_number_literal)] = 1\n",
            "    version: Annotated[Literal[2], BeforeValidator(_number_literal)]\n",
            "    level: Annotated[Literal[0, 1, 2], BeforeValidator(_number_literal)]\n",
            "    ack: None\n",
            // Lists, sets, tuples, defaults.
            "    lines: Annotated[list[PlaceOrderParamsLinesItem], Field(min_length=1, max_length=100)]\n",
            "    tags: Annotated[list[Annotated[_Str, Field(min_length=1)]], Field(max_length=5), AfterValidator(_unique)] | None = None\n",
            "    window: tuple[Annotated[_Str, AfterValidator(_time)], Annotated[_Str, AfterValidator(_time)]] | None = None\n",
            "    gift_wrap: _Bool = Field(False, alias=\"giftWrap\")\n",
            "    notes: list[_Str] = Field(default_factory=lambda: [], validate_default=True)\n",
            "    shipping: PlaceOrderParamsShipping = Field(default_factory=lambda: {\"insured\": False, \"speed\": \"standard\"}, validate_default=True)\n",
            // Unions.
            "    query: Annotated[Annotated[_Str, Field(min_length=1)] | _Int, Field(union_mode=\"left_to_right\")]\n",
            "    code: Annotated[_Str | _Float, Field(union_mode=\"left_to_right\")] | None = None\n",
            "    filter: Annotated[SearchParamsFilter1 | SearchParamsFilter2, Field(union_mode=\"left_to_right\")] | None = None\n",
            "class PlaceOrderResult(RootModel[PlaceOrderResultTrue | PlaceOrderResultFalse]):",
            // Intersection (one object allowing unknown fields), catchall.
            "class LoggedParamsSource(BaseModel):\n    model_config = ConfigDict(\n        extra=\"ignore\",",
            "    __pydantic_extra__: dict[str, _Float] = Field(init=False)\n    origin: _Str\n",
            // Descriptions.
            "class CreateUserParams(BaseModel):\n    \"\"\"A new user.\"\"\"\n",
            // Recursion cut by zod-to-json-schema: any JSON.
            "    children: list[Any]\n",
        ],
    );
}

#[test]
fn zod_has_every_feature() {
    let (_, ts) = generated();
    has(
        &ts,
        &[
            "const UnitPrice = z.object({\n  cents: z.number().int().nonnegative(),\n  currency: z.enum([\"EUR\", \"USD\"]),\n}).strict();\n",
            "unitPrice: UnitPrice,",
            "total: UnitPrice,",
            "maxPrice: UnitPrice.optional(),",
            "email: z.string().email(),",
            "name: z.string().min(1).max(80).describe(\"Display name.\"),",
            "initial: z.string().max(1).optional(),",
            "website: z.string().url().optional(),",
            "lastIp: z.string().ip().optional(),",
            "avatar: z.string().base64().optional(),",
            "sku: z.string().min(1).max(32).regex(new RegExp(\"^[A-Z]{3}-\\\\d{1,6}$\")),",
            "userId: z.string().uuid(),",
            "createdAt: z.string().datetime(),",
            "deliverOn: z.string().date().optional(),",
            "took: z.string().duration().optional(),",
            "peer: z.string().ip({ version: 'v4' }).optional(),",
            "coupon: z.string().length(8).nullable(),",
            "quantity: z.number().int().gte(1).lte(100),",
            "limit: z.number().int().positive().lte(100).default(20),",
            "offset: z.number().int().nonnegative().default(0),",
            "minRating: z.number().nonnegative().lte(5).multipleOf(0.5).optional(),",
            "next: z.number().int().nullable(),",
            "role: z.union([z.literal(1), z.literal(2), z.literal(3)]).default(1),",
            "version: z.literal(2),",
            "level: z.union([z.literal(0), z.literal(1), z.literal(2)]),",
            "ack: z.null(),",
            "}).strict()).min(1).max(100),",
            "tags: uniqueItems(z.set(z.string().min(1)).max(5)).optional(),",
            "window: z.tuple([z.string().time(), z.string().time()]).optional(),",
            "giftWrap: z.boolean().default(false),",
            "notes: z.array(z.string()).default([]),",
            "}).strict().default({\"insured\":false,\"speed\":\"standard\"}),",
            "query: z.union([z.string().min(1), z.number().int()]),",
            "code: z.union([z.string(), z.number()]).optional(),",
            "filter: z.union([z.object({",
            "z.discriminatedUnion(\"ok\", [",
            "}).passthrough(),",
            "}).catchall(z.number()),",
            "}).strict().describe(\"A new user.\"),",
            "children: z.array(z.unknown()),",
        ],
    );
}
