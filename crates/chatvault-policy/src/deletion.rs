//! Manual deletions and recoveries: a request, and the second person who must approve
//! it (四眼原则) before it is carried out.

use serde::{Deserialize, Serialize};

use crate::PolicyError;

/// What a lifecycle request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeletionKind {
    /// Delete messages (recoverable during the window, then purged).
    Delete,
    /// Bring deleted messages back, inside their window.
    Recover,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DeletionStatus {
    Pending,
    Approved {
        by: String,
        at_ms: i64,
    },
    Rejected {
        by: String,
        at_ms: i64,
        comment: String,
    },
}

/// A manual deletion (or recovery), which a second person must approve (四眼原则).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRequest {
    pub id: String,
    pub kind: DeletionKind,
    /// The message ids, resolved when the request was filed, so the approver decides on
    /// exactly what will happen.
    pub messages: Vec<String>,
    /// How they were chosen (a message, a conversation, a participant, a query).
    pub selector: String,
    pub reason: String,
    pub requested_by: String,
    pub requested_ms: i64,
    #[serde(flatten)]
    pub status: DeletionStatus,
}

impl DeletionRequest {
    pub fn new(
        id: &str,
        kind: DeletionKind,
        messages: Vec<String>,
        selector: &str,
        reason: &str,
        by: &str,
        now_ms: i64,
    ) -> Result<DeletionRequest, PolicyError> {
        if messages.is_empty() {
            return Err(PolicyError::Invalid(format!(
                "`{selector}` selects no message"
            )));
        }
        if reason.trim().is_empty() {
            return Err(PolicyError::Invalid("a deletion needs a reason".into()));
        }
        Ok(DeletionRequest {
            id: id.to_owned(),
            kind,
            messages,
            selector: selector.to_owned(),
            reason: reason.trim().to_owned(),
            requested_by: by.to_owned(),
            requested_ms: now_ms,
            status: DeletionStatus::Pending,
        })
    }

    /// Approval by a second person.
    pub fn approve(&mut self, by: &str, now_ms: i64) -> Result<(), PolicyError> {
        self.decide(by)?;
        self.status = DeletionStatus::Approved {
            by: by.to_owned(),
            at_ms: now_ms,
        };
        Ok(())
    }

    pub fn reject(&mut self, by: &str, comment: &str, now_ms: i64) -> Result<(), PolicyError> {
        self.decide(by)?;
        self.status = DeletionStatus::Rejected {
            by: by.to_owned(),
            at_ms: now_ms,
            comment: comment.to_owned(),
        };
        Ok(())
    }

    fn decide(&self, by: &str) -> Result<(), PolicyError> {
        if self.status != DeletionStatus::Pending {
            return Err(PolicyError::State(format!(
                "deletion request {} is already decided",
                self.id
            )));
        }
        if by == self.requested_by {
            return Err(PolicyError::SelfApproval);
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod deletion_tests {
    use super::*;

    #[test]
    fn two_people_decide_a_deletion() {
        let mut r = DeletionRequest::new(
            "del-1",
            DeletionKind::Delete,
            vec!["01A".into()],
            "message 01A",
            "客户要求删除",
            "root",
            0,
        )
        .unwrap();
        assert_eq!(
            r.approve("root", 1).unwrap_err().code(),
            "policy.self_approval"
        );
        r.approve("boss", 1).unwrap();
        assert_eq!(
            r.approve("other", 2).unwrap_err().code(),
            "policy.state",
            "decided once"
        );
        assert_eq!(r.reject("other", "", 2).unwrap_err().code(), "policy.state");
        assert!(
            DeletionRequest::new("d", DeletionKind::Delete, vec![], "query x", "r", "a", 0)
                .is_err(),
            "selects nothing"
        );
        assert!(
            DeletionRequest::new(
                "d",
                DeletionKind::Recover,
                vec!["01A".into()],
                "m",
                " ",
                "a",
                0
            )
            .is_err(),
            "no reason"
        );
    }
}
