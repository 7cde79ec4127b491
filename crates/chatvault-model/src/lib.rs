//! chatvault's vocabulary: messages, conversations, senders, times, and the canonical
//! encodings that everything else agrees on.
//!
//! This crate owns:
//! - the message model ([`NewMessage`] as an importer produces it, [`StoredMessage`] as the
//!   archive returns it);
//! - canonical JSONL ([`canonical`]): parsing with field-named errors, and writing;
//! - text normalisation for search ([`normalize`]): NFKC, then lower case;
//! - the dedup key and content fingerprint ([`dedup`]);
//! - the canonical leaf encoding and content commitment that the Merkle log hashes ([`leaf`]);
//! - personal data in text ([`pii`]): detection, the flags kept on a message, masking.
//!
//! It must never do IO: no files, no network, no clock. Callers pass the time in.

pub mod canonical;
pub mod dedup;
pub mod display;
pub mod leaf;
pub mod normalize;
pub mod pii;
mod types;
pub mod wire;

pub use types::*;
