//! `chatvault-app`: the application layer. Each use case is one function here, called
//! by both front ends: the CLI (`chatvault`), which parses arguments and renders, and
//! the server (`chatvault-server`), which speaks HTTP and draws pages.
//!
//! - [`config`]: the deployment's settings (TOML, then `CHATVAULT_*` overrides).
//! - [`time`]: the one reader of times people type, and how times are shown.
//! - [`reach`]: a user's decision inputs, the per-message rule, and a read's audit
//!   entries.
//! - [`requests`]: retrieval requests and grants: filing, deciding, revoking, and
//!   who may list whose.
//! - [`read`]: content reads for a caller ([`read::Reader`]): search, conversation,
//!   message, attachment, case timeline; each returns `Visible` values only.
//! - [`exports`]: plain exports and evidence packages, with their audit details.
//! - [`errors`]: the one table of error codes, with each one's HTTP and exit status;
//!   [`error`]: the error every use case returns, carrying one of those codes.
//! - [`service`]: [`App`], what a running server holds (the archive, the access
//!   database, the settings, the live monitor), and opening the access database.
//! - [`ingest`]: validate → store → index → monitor → audit, for the API and connectors.
//! - [`connectors`]: live capture at `/hooks/NAME`: one module per platform and one
//!   entry in [`connectors::KINDS`], over the ingest path.
//! - [`live`]: the live SLA monitor's state and its saving.
//! - [`lifecycle`]: retention sweeps and approved deletions.
//! - [`reports`]: service-quality reports, their cache, and their tables.

/// A line of the log on stdout. Unlike `println!`, a closed output (the process that
/// started the server stopped reading) never panics a background task: the line is
/// dropped. A log line never carries the content of a chat message.
#[macro_export]
macro_rules! log_out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// [`log_out!`] on stderr.
#[macro_export]
macro_rules! log_err {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

pub mod config;
pub mod connectors;
pub mod error;
pub mod errors;
pub mod exports;
pub mod ingest;
pub mod lifecycle;
pub mod live;
pub mod reach;
pub mod read;
pub mod reports;
pub mod requests;
pub mod service;
pub mod time;

pub use config::Config;
pub use error::{Error, Result};
pub use service::App;
