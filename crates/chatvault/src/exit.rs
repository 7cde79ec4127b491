//! How the command ends: each error's stable code (from whichever library raised it),
//! which gives its exit status through the one table (`chatvault_app::errors`), and a
//! quiet end when the reader of standard output went away.

use chatvault_archive::ArchiveError;

/// Whether an error comes from writing to a pipe whose reader has closed it.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `println!` panics when standard output is a closed pipe. That is no failure of the
/// command: its reader has what it wanted (`| head`). The process ends quietly, with no
/// backtrace; every other panic is reported as before.
pub fn quiet_on_closed_stdout() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        // Only the command's own (main) thread: a server thread is never ended this way.
        let main_thread = std::thread::current().name() == Some("main");
        if main_thread
            && message.starts_with("failed printing to stdout")
            && message.contains("Broken pipe")
        {
            std::process::exit(0);
        }
        report(info)
    }));
}

/// The stable code of an error, whichever library raised it.
pub fn error_code(e: &anyhow::Error) -> &'static str {
    if let Some(e) = e.downcast_ref::<chatvault_app::Error>() {
        return e.code;
    }
    if let Some(e) = e.downcast_ref::<ArchiveError>() {
        return e.code();
    }
    if let Some(e) = e.downcast_ref::<chatvault_access::AccessError>() {
        return e.code();
    }
    if let Some(e) = e.downcast_ref::<chatvault_app::service::OpenError>() {
        return e.code();
    }
    if let Some(e) = e.downcast_ref::<chatvault_policy::PolicyError>() {
        return e.code();
    }
    if e.downcast_ref::<chatvault_app::config::ConfigError>()
        .is_some()
    {
        return "config.invalid";
    }
    if let Some(e) = e.downcast_ref::<chatvault_analytics::AnalyticsError>() {
        return e.code();
    }
    if let Some(e) = e.downcast_ref::<chatvault_evidence::EvidenceError>() {
        return e.code();
    }
    if let Some(e) = e.downcast_ref::<chatvault_app::exports::ExportError>() {
        return e.code();
    }
    if let Some(e) = e.downcast_ref::<chatvault_backup::BackupError>() {
        return e.code();
    }
    if let Some(e) = e.downcast_ref::<chatvault_app::lifecycle::LifecycleError>() {
        return e.code();
    }
    if e.downcast_ref::<chatvault_server::ServeError>().is_some() {
        return "serve";
    }
    if e.downcast_ref::<chatvault_app::time::TimeError>().is_some() {
        return "input.invalid";
    }
    "error"
}
