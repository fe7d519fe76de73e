//! Deterministic, seeded bundle sets that look like real OTA fleets, for the
//! tests and benchmarks of otaseal.
//!
//! A [`Spec`] (preset, scale, seed, optional fixed size or count) describes a
//! dataset; [`plan`] lists its files without touching the disk, [`generate`]
//! writes them (in parallel, resumably), and [`fill`] recreates any file's
//! bytes in memory from its [`FileSpec::seed`]; for the `versions` preset
//! (old/new pairs for delta encoders), [`version_pair`] does.
//!
//! ```no_run
//! use otaseal_datasets::{Preset, Spec, generate};
//!
//! let spec = Spec::new(Preset::ManySmall).scale(0.01); // 40 bundles
//! let summary = generate(&spec, std::path::Path::new("/tmp/fleet"))?;
//! assert_eq!(summary.files, 40);
//! # Ok::<(), otaseal_datasets::Error>(())
//! ```
//!
//! Same spec, same bytes: on the same platform the tree, including
//! `dataset.json`, is byte-identical from run to run. (Sizes are sampled with
//! `f64` `ln`/`exp`/`cos`, so another libm could in principle round a size
//! differently.)

mod content;
mod error;
mod generate;
mod plan;
mod versions;

pub use content::{Content, ContentStream, fill, fill_content};
pub use error::Error;
pub use generate::{
    MANIFEST_FORMAT, MANIFEST_NAME, Manifest, Options, Summary, generate, generate_with,
    read_manifest,
};
pub use plan::{DEFAULT_SEED, FileSpec, MAX_FILES, MAX_SCALE, Preset, Spec, plan};
pub use versions::{VersionPair, version_pair};
