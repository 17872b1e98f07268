//! MISP in (node/MISP.md): reading MISP core-format events ([`model`]) and mapping them to certnet
//! records ([`map`]). Publishing them, idempotently, is `services::misp`; the commands are
//! `certnet misp import` (cli/misp.rs) and `POST /v1/misp/events`.

pub mod map;
pub mod model;

pub use map::{MapOptions, Mapped, MappedSighting, Refused, Skipped, map_event};
pub use model::{Event, events_in};

#[cfg(test)]
mod tests;
