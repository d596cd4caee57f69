//! The one error type an app sees: a variant per kind of failure
//! ([`peerfx_node::error::ErrorKind`]), each with the machine code and the
//! sentence that the HTTP API and the CLI give for the same failure.

use peerfx_node::error::{chain, ErrorKind};
use peerfx_node::NodeError;

/// Why a call failed. `code` is stable ("insufficient_remaining"), `message`
/// is for people, the same sentence `peerfx` prints.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PeerfxError {
    /// The input is wrong; the same call will fail again.
    #[error("{message}")]
    Invalid {
        /// Machine code.
        code: String,
        /// For people.
        message: String,
    },
    /// No such offer or trade.
    #[error("{message}")]
    NotFound {
        /// Machine code.
        code: String,
        /// For people.
        message: String,
    },
    /// Not now: the offer, trade or rating does not allow it in its state.
    #[error("{message}")]
    Conflict {
        /// Machine code.
        code: String,
        /// For people.
        message: String,
    },
    /// The node is paused: resume it first.
    #[error("{message}")]
    Paused {
        /// Machine code.
        code: String,
        /// For people.
        message: String,
    },
    /// The disk, or a bounded store, is full; nothing changed.
    #[error("{message}")]
    Full {
        /// Machine code.
        code: String,
        /// For people.
        message: String,
    },
    /// The peer could not be reached.
    #[error("{message}")]
    Unreachable {
        /// Machine code.
        code: String,
        /// For people.
        message: String,
    },
    /// The peer refused, or answered something invalid.
    #[error("{message}")]
    PeerRefused {
        /// Machine code.
        code: String,
        /// For people.
        message: String,
    },
    /// A fault of this node (its store, its configuration), or a call on a
    /// node that was shut down.
    #[error("{message}")]
    Internal {
        /// Machine code.
        code: String,
        /// For people.
        message: String,
    },
}

impl PeerfxError {
    /// A fault of the binding itself (a task that panicked, a node shut
    /// down).
    pub(crate) fn internal(message: impl Into<String>) -> PeerfxError {
        PeerfxError::Internal {
            code: "internal".into(),
            message: message.into(),
        }
    }
}

impl From<NodeError> for PeerfxError {
    fn from(e: NodeError) -> PeerfxError {
        let (code, message) = (e.code().to_string(), chain(&e));
        match e.kind() {
            ErrorKind::Invalid => PeerfxError::Invalid { code, message },
            ErrorKind::NotFound => PeerfxError::NotFound { code, message },
            ErrorKind::Conflict => PeerfxError::Conflict { code, message },
            ErrorKind::Paused => PeerfxError::Paused { code, message },
            ErrorKind::Full => PeerfxError::Full { code, message },
            ErrorKind::Unreachable => PeerfxError::Unreachable { code, message },
            ErrorKind::PeerRefused => PeerfxError::PeerRefused { code, message },
            ErrorKind::Internal => PeerfxError::Internal { code, message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_keeps_the_clis_code_and_sentence() {
        let paused = PeerfxError::from(NodeError::Net(peerfx_net::NetError::Paused));
        assert!(matches!(
            &paused,
            PeerfxError::Paused { code, message }
                if code == "paused" && message == "the node is paused: resume it first"
        ));
        let input = NodeError::Input {
            what: "near",
            message: "not a geohash".into(),
        };
        assert!(matches!(
            PeerfxError::from(input),
            PeerfxError::Invalid { code, message } if code == "invalid" && message == "near: not a geohash"
        ));
        let missing = PeerfxError::from(NodeError::UnknownTrade(peerfx_core::Hash([7; 32])));
        assert!(matches!(missing, PeerfxError::NotFound { code, .. } if code == "unknown_trade"));
    }
}
