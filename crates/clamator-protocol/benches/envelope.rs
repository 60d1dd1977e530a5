//! Criterion micro-benchmarks of the envelope layer: parsing and building the
//! JSON-RPC envelopes of an `arith.add` call, as every transport does once per
//! call on each side.
//!
//! `cargo bench -p clamator-protocol --bench envelope`
#![allow(missing_docs)] // criterion_group! generates undocumented public functions

use std::hint::black_box;

use clamator_protocol::transport::{build_error, build_success, prepare_call, try_build_request};
use clamator_protocol::{Envelope, Id, RpcError};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

const REQUEST: &[u8] = br#"{"jsonrpc":"2.0","method":"arith.add","params":{"a":1.0,"b":2.0},"id":"8c0b1a52-3f4e-4d5a-9b1c-2e7f6a0d9c31"}"#;
const SUCCESS: &[u8] =
    br#"{"jsonrpc":"2.0","id":"8c0b1a52-3f4e-4d5a-9b1c-2e7f6a0d9c31","result":{"sum":3.0}}"#;
const ERROR: &[u8] = br#"{"jsonrpc":"2.0","id":"8c0b1a52-3f4e-4d5a-9b1c-2e7f6a0d9c31","error":{"code":-32602,"message":"Invalid params","data":{"errors":[{"loc":["a"],"msg":"invalid type: string \"x\", expected f64","type":"invalid_type"}]}}}"#;

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("envelope/parse");
    g.bench_function("request", |b| {
        b.iter(|| Envelope::parse_request(black_box(REQUEST)))
    });
    g.bench_function("success", |b| {
        b.iter(|| Envelope::parse_response(black_box(SUCCESS)))
    });
    g.bench_function("error", |b| {
        b.iter(|| Envelope::parse_response(black_box(ERROR)))
    });
    g.finish();
}

fn build(c: &mut Criterion) {
    let id = Id::Str("8c0b1a52-3f4e-4d5a-9b1c-2e7f6a0d9c31".to_owned());
    let params = json!({"a": 1.0, "b": 2.0});
    let result = json!({"sum": 3.0});
    let error = RpcError::method_not_found();
    let mut g = c.benchmark_group("envelope/build");
    g.bench_function("request", |b| {
        b.iter(|| try_build_request(black_box("arith.add"), black_box(&params), Some(&id)))
    });
    g.bench_function("success", |b| {
        b.iter(|| build_success(black_box(&id), black_box(&result)))
    });
    g.bench_function("error", |b| {
        b.iter(|| build_error(Some(black_box(&id)), black_box(&error)))
    });
    // What a client does per call before sending: name checks, a UUID v4 id, the envelope.
    g.bench_function("prepare_call", |b| {
        b.iter(|| prepare_call(black_box("arith"), black_box("add"), black_box(&params)))
    });
    g.finish();
}

criterion_group!(benches, parse, build);
criterion_main!(benches);
