//! `chatvault-app`: the application layer. Each use case is one function here, called
//! by both front ends: the CLI (`chatvault`), which parses arguments and renders, and
//! the server (`chatvault-server`), which speaks HTTP and draws pages.
//!
//! - [`config`]: the deployment's settings (TOML, then `CHATVAULT_*` overrides).
//! - [`time`]: the one reader of times people type, and how times are shown.

pub mod config;
pub mod time;

pub use config::Config;
