//! Typed errors for topics and payloads.

/// A topic string that is not one of the ThingsBoard device or gateway topics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// Not a device (`v1/devices/me/…`) or gateway (`v1/gateway/…`) topic.
    #[error("unknown topic {topic:?}")]
    Unknown {
        /// The topic as received.
        topic: String,
    },
    /// The request id segment is not a canonical decimal `u64`
    /// (ASCII digits, no sign, no leading zero, at most `u64::MAX`).
    #[error("bad request id {id:?} in topic {topic:?}")]
    BadRequestId {
        /// The topic as received.
        topic: String,
        /// The offending id segment.
        id: String,
    },
    /// A shared-subscription group name that is empty or contains `/`, `+` or `#`.
    #[error("invalid shared-subscription group {group:?}")]
    InvalidShareGroup {
        /// The group as given.
        group: String,
    },
}

/// A payload that is not valid for the topic it arrived on.
///
/// Paths are JSONPath-like: `$` is the whole payload, `$[0]` an array
/// element, `$.values.temp` or `$["Meter A"]` an object member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload bytes are not UTF-8.
    #[error("payload is not UTF-8 (valid up to byte {valid_up_to})")]
    NotUtf8 {
        /// Length of the valid UTF-8 prefix.
        valid_up_to: usize,
    },
    /// The payload is not well-formed JSON.
    #[error("payload is not valid JSON: {reason}")]
    Syntax {
        /// `serde_json`'s message, with line and column.
        reason: String,
    },
    /// A value has the wrong JSON type or form.
    #[error("{path}: expected {expected}")]
    Expected {
        /// Where in the payload.
        path: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// A required member is missing.
    #[error("{path}: missing member `{member}`")]
    Missing {
        /// The object lacking the member.
        path: String,
        /// The member's name.
        member: &'static str,
    },
    /// The same key appears twice in one object.
    #[error("{path}: duplicate key")]
    DuplicateKey {
        /// The duplicated member.
        path: String,
    },
    /// A member that this form does not allow (for example a third key next
    /// to `ts` and `values`).
    #[error("{path}: unexpected member")]
    Unexpected {
        /// The unexpected member.
        path: String,
    },
    /// An RPC method that is not one of Yufu's meter commands.
    #[error("unknown meter command method {method:?}")]
    UnknownMethod {
        /// The method as received.
        method: String,
    },
}

impl PayloadError {
    pub(crate) fn expected(path: &str, expected: &'static str) -> Self {
        Self::Expected {
            path: path.to_owned(),
            expected,
        }
    }

    pub(crate) fn missing(path: &str, member: &'static str) -> Self {
        Self::Missing {
            path: path.to_owned(),
            member,
        }
    }

    pub(crate) fn syntax(e: &serde_json::Error) -> Self {
        Self::Syntax {
            reason: e.to_string(),
        }
    }
}
