//! certnet-tests holds no library code: the end-to-end tests are the one test binary `e2e`
//! (`tests/e2e.rs`, helpers in `tests/util.rs`), built on the certnet-testnet library.
