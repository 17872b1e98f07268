//! certnet-testnet library.
