//! certnet node library.

pub mod store;
