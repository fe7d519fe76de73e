//! `otaseal-datasets`: generate a deterministic bundle set.

mod cli;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use clap::Parser;
use otaseal_datasets::{Manifest, Options, Preset, Summary, generate_with};

use crate::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `otaseal-datasets ... | head` is not an error.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("otaseal-datasets: error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug)]
enum Failure {
    Dataset(otaseal_datasets::Error),
    Output(io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Dataset(e) => e.fmt(f),
            Failure::Output(e) => write!(f, "writing to stdout: {e}"),
        }
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    let spec = cli.spec();
    let mut stdout = io::stdout().lock();
    if cli.dry_run {
        let manifest = Manifest::new(&spec).map_err(Failure::Dataset)?;
        if cli.json {
            serde_json::to_writer_pretty(&mut stdout, &manifest)
                .map_err(|e| Failure::Output(e.into()))?;
            writeln!(stdout)
        } else {
            writeln!(
                stdout,
                "{}: {} files, {} planned (dry run) -> {}",
                spec.preset,
                manifest.file_count,
                human(manifest.total_bytes),
                cli.out.display()
            )
        }
        .map_err(Failure::Output)?;
        return Ok(());
    }

    let progress = Arc::new(AtomicU64::new(0));
    let options = Options {
        threads: cli.threads,
        fsync: cli.fsync,
        progress: Some(progress.clone()),
    };
    // Planning `versions` builds every pair: its total is left unknown here
    // rather than built twice.
    let total = if spec.preset == Preset::Versions {
        None
    } else {
        Some(Manifest::new(&spec).map_err(Failure::Dataset)?.total_bytes)
    };
    let show_progress = !cli.json && io::stderr().is_terminal();
    let done = AtomicBool::new(false);
    let summary = std::thread::scope(|s| {
        if show_progress {
            s.spawn(|| report_progress(&progress, total, &done));
        }
        let result = generate_with(&spec, &cli.out, &options);
        done.store(true, Ordering::Relaxed);
        result
    })
    .map_err(Failure::Dataset)?;

    if cli.json {
        serde_json::to_writer(&mut stdout, &summary).map_err(|e| Failure::Output(e.into()))?;
        writeln!(stdout)
    } else {
        writeln!(
            stdout,
            "{}",
            summary_line(&summary, &cli.out.display().to_string())
        )
    }
    .map_err(Failure::Output)
}

fn summary_line(s: &Summary, out: &str) -> String {
    let rate = if s.seconds > 0.0 {
        format!(
            " ({}/s)",
            human((s.written_bytes as f64 / s.seconds) as u64)
        )
    } else {
        String::new()
    };
    format!(
        "{}: {} files, {} (written {} files / {}, skipped {}) in {:.2} s{rate} -> {out}",
        s.preset,
        s.files,
        human(s.total_bytes),
        s.written_files,
        human(s.written_bytes),
        s.skipped_files,
        s.seconds,
    )
}

/// Redraws a one-line progress indicator on stderr until `done`.
fn report_progress(progress: &AtomicU64, total: Option<u64>, done: &AtomicBool) {
    let mut stderr = io::stderr();
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(200));
        let now = progress.load(Ordering::Relaxed);
        let _ = match total {
            Some(total) => write!(stderr, "\r{} / {}   ", human(now), human(total)),
            None => write!(stderr, "\r{}   ", human(now)),
        };
    }
    let _ = write!(stderr, "\r\x1b[K");
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(16 * 1024), "16.0 KiB");
        assert_eq!(human(3 << 30), "3.0 GiB");
    }

    #[test]
    fn summary_line_reads_well() {
        let s = Summary {
            preset: Preset::Mixed,
            files: 2,
            total_bytes: 2 << 20,
            written_files: 1,
            written_bytes: 1 << 20,
            skipped_files: 1,
            seconds: 0.5,
        };
        assert_eq!(
            summary_line(&s, "out"),
            "mixed: 2 files, 2.0 MiB (written 1 files / 1.0 MiB, skipped 1) in 0.50 s (2.0 MiB/s) -> out"
        );
    }
}
