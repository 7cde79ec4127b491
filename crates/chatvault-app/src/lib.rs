//! `chatvault-app`: the application layer. Each use case is one function here, called
//! by both front ends: the CLI (`chatvault`), which parses arguments and renders, and
//! the server (`chatvault-server`), which speaks HTTP and draws pages.
//!
//! - [`config`]: the deployment's settings (TOML, then `CHATVAULT_*` overrides).
//! - [`time`]: the one reader of times people type, and how times are shown.
//! - [`reach`]: a user's decision inputs, the per-message rule, and a read's audit
//!   entries.
//! - [`exports`]: plain exports and evidence packages, with their audit details.
//! - [`errors`]: the one table of error codes, with each one's HTTP and exit status.

pub mod config;
pub mod errors;
pub mod exports;
pub mod reach;
pub mod time;

pub use config::Config;
