//! Command-line arguments.

use std::path::PathBuf;

use clap::Parser;
use otaseal_datasets::{Content, DEFAULT_SEED, Preset, Spec};

/// Generate a deterministic, seeded set of OTA bundles.
///
/// Same preset, options and seed always give a byte-identical tree. Re-running
/// over an existing directory keeps files that already have the right size.
#[derive(Debug, Parser)]
#[command(name = "otaseal-datasets", version)]
pub struct Cli {
    /// Kind of fleet: many-small (4000 web bundles, 16 KiB..2 MiB), mixed
    /// (200 bundles, 1..64 MiB), large (firmware images of 2, 2 and 4 GiB) or
    /// versions (6 old/new pairs for delta encoders, written to old/ and new/:
    /// firmware images of about 4, 16 and 32 MiB, a web bundle as tar and as
    /// zip, a 24 MiB release where everything changed; about 106 MiB new).
    #[arg(value_enum)]
    pub preset: Preset,

    /// Directory to generate into (created if missing).
    #[arg(long, short)]
    pub out: PathBuf,

    /// Multiplies the file count (many-small, mixed) or the file sizes (large,
    /// versions).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,

    /// Seed of names, sizes and contents; decimal or 0x-prefixed hex.
    #[arg(long, default_value_t = DEFAULT_SEED, value_parser = parse_seed)]
    pub seed: u64,

    /// Make every file exactly this size: bytes, or with a binary suffix
    /// (16K, 16KiB, 4M, 2G).
    #[arg(long, value_parser = parse_size)]
    pub size: Option<u64>,

    /// Make exactly this many files (versions: this many pairs).
    #[arg(long)]
    pub count: Option<usize>,

    /// Fill files with text-like, compressible data instead of random bytes
    /// (ignored by versions, whose content is given by each pair's kind).
    #[arg(long)]
    pub compressible: bool,

    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// fsync every file and directory before finishing.
    #[arg(long)]
    pub fsync: bool,

    /// Only plan: print what would be generated, write nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the summary (with --dry-run: the manifest) as JSON.
    #[arg(long)]
    pub json: bool,
}

impl Cli {
    /// The dataset the arguments describe.
    pub fn spec(&self) -> Spec {
        Spec {
            preset: self.preset,
            scale: self.scale,
            seed: self.seed,
            size: self.size,
            count: self.count,
            content: if self.compressible {
                Content::Text
            } else {
                Content::Random
            },
        }
    }
}

fn parse_seed(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => s.replace('_', "").parse(),
    };
    parsed.map_err(|e| format!("{s:?} is not a u64 seed: {e}"))
}

/// Parses `123`, `16K`, `16KiB`, `4M`, `4MiB`, `2G`, `2GiB` (all binary).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (number, suffix) = s.split_at(digits);
    let shift = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => {
            return Err(format!(
                "{s:?}: unknown size suffix {suffix:?} (use K, M, G, T or KiB, MiB, GiB, TiB)"
            ));
        }
    };
    let n: u64 = number
        .parse()
        .map_err(|e| format!("{s:?} is not a size: {e}"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_a_full_command_line() {
        let cli = Cli::try_parse_from([
            "otaseal-datasets",
            "many-small",
            "--out",
            "/tmp/x",
            "--scale",
            "0.01",
            "--seed",
            "0x10",
            "--size",
            "16KiB",
            "--count",
            "3",
        ])
        .unwrap();
        let spec = cli.spec();
        assert_eq!(
            spec,
            Spec::new(Preset::ManySmall)
                .scale(0.01)
                .seed(16)
                .size(16384)
                .count(3)
        );
        assert!(Cli::try_parse_from(["otaseal-datasets", "huge", "--out", "x"]).is_err());
        assert!(
            Cli::try_parse_from(["otaseal-datasets", "large"]).is_err(),
            "--out is required"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("16384"), Ok(16384));
        assert_eq!(parse_size("16K"), Ok(16384));
        assert_eq!(parse_size("16KiB"), Ok(16384));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("").is_err());
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("16KB").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
