//! The compile-time rules of `#[concurrent]` and `#[sendable]`, proven with trybuild.
//!
//! Every file in `ui/fail` must fail to compile with exactly the diagnostics in its `.stderr`;
//! every file in `ui/pass` must compile. Regenerate the expectations with `TRYBUILD=overwrite`
//! and read every changed `.stderr` before committing it.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
