//! trybuild suites for the taskpool macros; see `tests/`.
