//! The `otaseal` command: a thin layer over the `otaseal` library, and the
//! only place that knows about argument parsing, the terminal and HTTP.

mod cli;
mod http;

fn main() -> std::process::ExitCode {
    restore_sigpipe();
    cli::main()
}

/// Rust ignores SIGPIPE, which turns `otaseal ... | head` into a panic on the
/// next write. Restore the default so a closed pipe ends the process quietly,
/// as it does for every other Unix tool.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; setting a
    // signal disposition to SIG_DFL has no other precondition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
