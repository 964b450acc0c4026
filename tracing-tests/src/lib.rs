//! Exists only to run the tests of `taskpool-runtime`'s `tracing` feature (in `tests/`) under
//! `cargo test --workspace`, without turning the feature on for the runtime's own tests.
