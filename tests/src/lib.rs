//! Helpers for certnet end-to-end tests.
