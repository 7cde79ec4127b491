//! [`Visible`]: a value read for a caller through the caller's rule.
//!
//! Only this crate makes one, and only in the `*_visible` reads, after the rule they were
//! given has hidden what it hides and masked what it masks. The use cases that answer a
//! caller (`chatvault_app::read`) return `Visible<…>` and pass the caller's own rule, so
//! an answer assembled from the unfiltered reads ([`crate::Archive::message`],
//! [`crate::Archive::search`]) does not compile there: reading a message again "to fill
//! in a field" cannot skip the mask.

use serde::Serialize;

/// A value as the caller's rule lets it be seen: messages it hides left out, messages
/// it masks masked. Read through `Deref`; serialised as the value itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Visible<T>(T);

impl<T> Visible<T> {
    /// Only the archive's rule-applying reads wrap a value.
    pub(crate) fn new(value: T) -> Visible<T> {
        Visible(value)
    }

    /// The value, to render or to move into a writer. Nothing turns a value back into a
    /// `Visible` but the archive's reads.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Visible<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}
