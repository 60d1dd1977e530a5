//! Compile errors of `#[clamator::contract]` and `#[clamator::model]`, pinned by trybuild snapshots.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
