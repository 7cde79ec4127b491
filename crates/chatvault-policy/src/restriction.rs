//! The storage-only state (PIPL Art. 47): data the law says to keep, with processing
//! stopped, until the restriction is lifted.

use serde::{Deserialize, Serialize};

use crate::{Handle, PolicyError};

/// The storage-only state (PIPL Art. 47): data the law says to keep, with processing
/// withdrawn. Every read is blocked except through a grant with `restricted.view`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restriction {
    pub id: String,
    #[serde(default)]
    pub conversations: Vec<String>,
    #[serde(default)]
    pub participants: Vec<Handle>,
    pub reason: String,
    pub by: String,
    pub created_ms: i64,
    #[serde(default)]
    pub lifted: Option<Lift>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lift {
    pub by: String,
    pub at_ms: i64,
}

impl Restriction {
    pub fn new(
        id: &str,
        conversations: Vec<String>,
        participants: Vec<Handle>,
        reason: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<Restriction, PolicyError> {
        if conversations.is_empty() && participants.is_empty() {
            return Err(PolicyError::Invalid(
                "a restriction names conversations or participants".into(),
            ));
        }
        if reason.trim().is_empty() {
            return Err(PolicyError::Invalid(
                "a restriction needs a reason (the withdrawal it records)".into(),
            ));
        }
        Ok(Restriction {
            id: id.to_owned(),
            conversations,
            participants,
            reason: reason.trim().to_owned(),
            by: by.to_owned(),
            created_ms: now_ms,
            lifted: None,
        })
    }

    pub fn active(&self) -> bool {
        self.lifted.is_none()
    }

    /// Whether a message of `conversation` (with these participants) is storage-only.
    pub fn covers(&self, conversation: &str, participants: &[Handle]) -> bool {
        self.active()
            && (self.conversations.iter().any(|c| c == conversation)
                || participants.iter().any(|h| self.participants.contains(h)))
    }
}
