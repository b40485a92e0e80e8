//! The macros' compile errors, one concern per file under `ui/` (of this crate, `tests/macros/`),
//! grouped by diagnostic; each `.stderr` is the reviewed expectation. Regenerate with
//! `TRYBUILD=overwrite cargo test --workspace --test ui`, then review the diff like code.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    for group in [
        "derive-attr",
        "derive-check",
        "derive-types",
        "handler-args",
        "handler-signature",
        "handler-types",
    ] {
        cases.compile_fail(format!("ui/{group}/*.rs"));
    }
}
