//! certnet node library.
