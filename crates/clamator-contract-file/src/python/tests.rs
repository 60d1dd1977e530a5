//! Unit tests.

use super::*;
use crate::test_util::contract;
use serde_json::json;

fn emit(props: Value, required: &[&str]) -> String {
    generate(
        &contract(&[(
            "m",
            json!({"type": "object", "properties": props, "required": required, "additionalProperties": false}),
        )]),
        "t",
    )
    .unwrap()
}

fn has(out: &str, wants: &[&str]) {
    for want in wants {
        assert!(out.contains(want), "{want}\n{out}");
    }
}

#[test]
fn patterns_are_translated() {
    assert_eq!(
        py_pattern(r"^[A-Z]{3}-\d+$").unwrap(),
        r"^[A-Z]{3}-[0-9]+\Z"
    );
    assert_eq!(py_pattern(r"[\w.]+\/x").unwrap(), r"[A-Za-z0-9_.]+/x");
    assert_eq!(
        py_pattern(r"(?<y>\d{4})-\k<y>").unwrap(),
        r"(?P<y>[0-9]{4})-(?P=y)"
    );
    assert_eq!(py_pattern(r"(?<=a)b[$&]").unwrap(), r"(?<=a)b[$\&]");
    assert_eq!(py_pattern(r"a[]b[^]").unwrap(), r"a(?!)b[\s\S]");
    assert!(py_pattern(r"^\p{L}+$").is_err());
}

#[test]
fn strings() {
    let out = emit(
        json!({
            "sku": {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "^[A-Z]{3}-\\d+$"},
            "email": {"type": "string", "format": "email"},
            "id": {"type": "string", "format": "uuid"},
            "site": {"type": "string", "format": "uri"},
            "at": {"type": "string", "format": "date-time"},
            "day": {"type": "string", "format": "date"},
            "clock": {"type": "string", "format": "time"},
            "ip": {"type": "string", "anyOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
            "v4": {"type": "string", "format": "ipv4"},
            "dur": {"type": "string", "format": "duration"},
            "blob": {"type": "string", "contentEncoding": "base64"},
        }),
        &["sku"],
    );
    has(
        &out,
        &[
            r#"    sku: Annotated[_Str, Field(min_length=1, max_length=32), _pattern("^[A-Z]{3}-[0-9]+\\Z")]"#,
            "    email: Annotated[_Str, AfterValidator(_email)] | None = None\n",
            "    id: Annotated[_Str, AfterValidator(_uuid)] | None = None\n",
            "    site: Annotated[_Str, AfterValidator(_uri)] | None = None\n",
            "    at: Annotated[_Str, AfterValidator(_date_time)] | None = None\n",
            "    day: Annotated[_Str, AfterValidator(_date)] | None = None\n",
            "    clock: Annotated[_Str, AfterValidator(_time)] | None = None\n",
            "    ip: Annotated[_Str, AfterValidator(_ip)] | None = None\n",
            "    v4: Annotated[_Str, AfterValidator(_ipv4)] | None = None\n",
            "    dur: Annotated[_Str, AfterValidator(_duration)] | None = None\n",
            "    blob: Annotated[_Str, AfterValidator(_base64)] | None = None\n",
            "import ipaddress\nimport re\n",
            "def _email(v: str) -> str:",
            "def _pattern(source: str) -> AfterValidator:",
        ],
    );
    assert!(!out.contains("email_validator") && !out.contains("EmailStr"));
}

#[test]
fn numbers_arrays_tuples_literals_unions() {
    let out = emit(
        json!({
            "qty": {"type": "integer", "minimum": 1, "maximum": 100},
            "cents": {"type": "integer", "minimum": 0},
            "pos": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10, "multipleOf": 0.5},
            "items": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100},
            "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
            "pair": {"type": "array", "minItems": 2, "maxItems": 2, "items": [{"type": "string"}, {"type": "number"}]},
            "five": {"type": "number", "const": 5},
            "level": {"type": "number", "enum": [1, 2, 3]},
            "nothing": {"type": "null"},
            "either": {"type": ["string", "number"]},
            "maybe": {"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}, {"type": "null"}]},
        }),
        &["qty", "nothing", "either"],
    );
    has(
        &out,
        &[
            "    qty: Annotated[_UInt, Field(ge=1, le=100)]\n",
            "    cents: _UInt | None = None\n",
            "    pos: Annotated[_Float, Field(gt=0, lt=10, multiple_of=0.5)] | None = None\n",
            "    items: Annotated[list[_Str], Field(min_length=1, max_length=100)] | None = None\n",
            "    tags: Annotated[list[_Str], AfterValidator(_unique)] | None = None\n",
            "    pair: tuple[_Str, _Float] | None = None\n",
            "    five: Annotated[Literal[5], BeforeValidator(_number_literal)] | None = None\n",
            "    level: Annotated[Literal[1, 2, 3], BeforeValidator(_number_literal)] | None = None\n",
            "    nothing: None\n",
            "    either: Annotated[_Str | _Float, Field(union_mode=\"left_to_right\")]\n",
            "    maybe: Annotated[Annotated[_Str, Field(min_length=1)] | _Int, Field(union_mode=\"left_to_right\")] | None = None\n",
            "from pydantic_core import to_jsonable_python\n",
        ],
    );
}

#[test]
fn objects_defaults_descriptions_catchall() {
    let out = emit(
        json!({
            "meta": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": {"type": "number"}},
            "page": {"type": "object", "properties": {"size": {"type": "integer", "default": 20}}, "additionalProperties": false, "description": "Paging.", "default": {"size": 10}},
            "sort": {"type": "array", "items": {"type": "string"}, "default": ["name"], "description": "Sort keys."},
            "label": {"type": "string", "description": "Shown \"as is\"."},
        }),
        &["meta", "label"],
    );
    has(
        &out,
        &[
            "class MParamsMeta(BaseModel):\n    model_config = ConfigDict(\n        extra=\"allow\",\n        populate_by_name=True,\n    )\n    __pydantic_extra__: dict[str, _Float] = Field(init=False)\n    a: _Str\n",
            "class MParamsPage(BaseModel):\n    \"\"\"Paging.\"\"\"\n\n    model_config",
            "    size: _Int = 20\n",
            "    page: MParamsPage = Field(default_factory=lambda: {\"size\": 10}, validate_default=True, description=\"Paging.\")\n",
            "    sort: list[_Str] = Field(default_factory=lambda: [\"name\"], validate_default=True, description=\"Sort keys.\")\n",
            "    label: _Str = Field(..., description=\"Shown \\\"as is\\\".\")\n",
        ],
    );
}

#[test]
fn shared_objects_become_one_class() {
    let money = json!({"type": "object", "properties": {"cents": {"type": "integer"}, "currency": {"type": "string"}}, "required": ["cents", "currency"], "additionalProperties": false});
    let c = contract(&[
        (
            "a",
            json!({"type": "object", "properties": {"price": money, "total": money}, "required": ["price", "total"], "additionalProperties": false}),
        ),
        (
            "b",
            json!({"type": "object", "properties": {"lines": {"type": "array", "items": money}}, "required": ["lines"], "additionalProperties": false}),
        ),
    ]);
    let out = generate(&c, "t").unwrap();
    assert_eq!(out.matches("class Price(BaseModel)").count(), 1, "{out}");
    has(
        &out,
        &[
            "    price: Price\n",
            "    total: Price\n",
            "    lines: list[Price]\n",
        ],
    );
}

#[test]
fn recursion_uses_forward_references() {
    let c = contract(&[(
        "m",
        json!({
            "type": "object", "properties": {"root": {"$ref": "#/definitions/Tree"}, "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
            "required": ["root", "next"], "additionalProperties": false,
            "definitions": {"Tree": {"type": "object", "properties": {
                "value": {"type": "number"},
                "children": {"type": "array", "items": {"$ref": "#/definitions/Tree"}}},
                "required": ["value", "children"], "additionalProperties": false}}
        }),
    )]);
    let out = generate(&c, "t").unwrap();
    has(
        &out,
        &[
            "    children: list[MParamsRoot]\n",
            "    next: MParams | None\n",
            "MParamsRoot.model_rebuild()\nMParams.model_rebuild()\n",
        ],
    );
}
