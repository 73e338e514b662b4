//! Real time: the hub (a task owning `user_id → connections`), the per-connection session
//! (one writer fed by a bounded queue, one reader), the bus-to-socket relay, and presence.

pub mod frames;
pub mod hub;
pub mod presence;
pub mod relay;
pub mod session;
