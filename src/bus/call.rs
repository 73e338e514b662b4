//! What calls carry on the bus: a client's call command on its way to the instance that owns
//! the call, the frames that instance sends to devices anywhere, and its heartbeat.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::UserId;

/// One device (WebSocket connection) of a user, wherever it is connected: the instance that
/// holds its socket and the connection's number there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CallDevice {
    pub instance: String,
    pub conn_id: u64,
    pub user_id: UserId,
}

/// What a device asks of a call (the owner applies it; see `service::call`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallCommand {
    /// The caller's invite again (a retry of the same `call_id`).
    Invite,
    Accept,
    Reject,
    Hangup,
    /// Pass `data` to the participant `to`.
    Signal {
        to: String,
        data: Value,
    },
    /// The device's socket closed.
    Gone,
}

/// Who a call frame is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallTarget {
    /// Every device of the user, except the one named (the device that answered, say).
    User { user_id: UserId, except: Option<CallDevice> },
    /// One device.
    Device { device: CallDevice },
}

/// One frame (`{"type": kind, "data": data}`) for a device or a user's devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallFrame {
    pub to: CallTarget,
    pub kind: String,
    pub data: Value,
}
