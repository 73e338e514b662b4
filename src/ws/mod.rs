//! Real time: the hub (a task owning `user_id → connections`), the per-connection session
//! (one task per socket, fed by a bounded queue), the WebSocket wire, the bus-to-socket
//! relay, and presence.

pub mod frames;
pub mod hub;
pub mod presence;
pub mod relay;
pub mod session;
pub mod transport;
