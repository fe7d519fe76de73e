//! Presets and the plan: which files a spec makes, how big, from which seed.
//!
//! Everything about file `i` (path, size, content seed) is derived from
//! `(seed, preset, i)` alone, so a plan with more files extends a plan with
//! fewer, and `--scale` or `--count` never reshuffles the files both share.

use std::fmt;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::{Content, Error};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// The default `--seed`: "otaseal\0" in ASCII.
pub const DEFAULT_SEED: u64 = 0x6f74_6173_6561_6c00;

/// Largest accepted `--scale`.
pub const MAX_SCALE: f64 = 1e6;

/// Largest number of files a dataset may have.
pub const MAX_FILES: u64 = 10_000_000;

/// The kind of fleet a dataset models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// Thousands of web bundles (default 4000): log-normal sizes, median
    /// 96 KiB, clamped to 16 KiB..=2 MiB.
    ManySmall,
    /// Hundreds of app bundles (default 200): log-uniform sizes in 1..=64 MiB.
    Mixed,
    /// A few firmware images: 2 GiB, 2 GiB and 4 GiB.
    Large,
    /// Old/new version pairs for delta encoders (default 6): firmware images
    /// of about 4, 16 and 32 MiB, a web bundle as tar (about 24 MiB) and as
    /// zip, and a 24 MiB release where everything changed.
    Versions,
}

impl Preset {
    /// Every preset, in CLI order.
    pub const ALL: [Preset; 4] = [
        Preset::ManySmall,
        Preset::Mixed,
        Preset::Large,
        Preset::Versions,
    ];

    /// The CLI and manifest name, e.g. `many-small`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::ManySmall => "many-small",
            Preset::Mixed => "mixed",
            Preset::Large => "large",
            Preset::Versions => "versions",
        }
    }

    /// Number of files at scale 1.0.
    pub fn default_count(self) -> usize {
        match self {
            Preset::ManySmall => 4000,
            Preset::Mixed => 200,
            Preset::Large => LARGE_SIZES.len(),
            Preset::Versions => crate::versions::PAIR_COUNT,
        }
    }

    /// Separates the presets' seed derivations.
    fn tag(self) -> u64 {
        match self {
            Preset::ManySmall => 1,
            Preset::Mixed => 2,
            Preset::Large => 3,
            Preset::Versions => 4,
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| {
                format!("unknown preset {s:?} (expected many-small, mixed, large or versions)")
            })
    }
}

/// What to generate. Same spec, same bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spec {
    /// The kind of fleet.
    pub preset: Preset,
    /// Multiplies the file count (`many-small`, `mixed`) or the file sizes
    /// (`large`, `versions`). Must be finite and in `(0, MAX_SCALE]`.
    pub scale: f64,
    /// Seed of everything: names, sizes and contents.
    pub seed: u64,
    /// Every file gets exactly this many bytes (overrides the preset's sizes
    /// and, for `large`, the scale).
    pub size: Option<u64>,
    /// Exactly this many files (overrides the preset's count and, for
    /// `many-small` and `mixed`, the scale); for `versions`, this many pairs
    /// (two files each).
    pub count: Option<usize>,
    /// What the bytes look like.
    #[serde(default)]
    pub content: Content,
}

impl Spec {
    /// The preset at scale 1.0 with the default seed.
    pub fn new(preset: Preset) -> Self {
        Self {
            preset,
            scale: 1.0,
            seed: DEFAULT_SEED,
            size: None,
            count: None,
            content: Content::Random,
        }
    }

    /// Sets [`Spec::scale`].
    pub fn scale(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }

    /// Sets [`Spec::seed`].
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`Spec::size`].
    pub fn size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// Sets [`Spec::count`].
    pub fn count(mut self, count: usize) -> Self {
        self.count = Some(count);
        self
    }

    /// Sets [`Spec::content`].
    pub fn content(mut self, content: Content) -> Self {
        self.content = content;
        self
    }

    /// Checks the scale and computes the number of files (for `versions`,
    /// of pairs).
    pub fn file_count(&self) -> Result<usize, Error> {
        if !(self.scale.is_finite() && self.scale > 0.0 && self.scale <= MAX_SCALE) {
            return Err(Error::InvalidScale { scale: self.scale });
        }
        let count = match (self.count, self.preset) {
            (Some(n), _) => n as u64,
            (None, Preset::Large | Preset::Versions) => self.preset.default_count() as u64,
            // At least one file: a tiny scale still makes a usable dataset.
            (None, p) => ((p.default_count() as f64 * self.scale).round() as u64).max(1),
        };
        let files = if self.preset == Preset::Versions {
            count.saturating_mul(2)
        } else {
            count
        };
        if files > MAX_FILES {
            return Err(Error::TooManyFiles { count });
        }
        Ok(count as usize)
    }
}

/// One file of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileSpec {
    /// Path relative to the output directory, `/`-separated.
    #[serde(rename = "path")]
    pub rel_path: String,
    /// Length in bytes.
    pub size: u64,
    /// Seed of the content stream (see [`crate::fill`]).
    pub seed: u64,
}

/// Lists the files `spec` describes, in index order.
///
/// For `versions` this builds every pair in memory to learn its sizes
/// (about a second per 100 MiB in a release build).
pub fn plan(spec: &Spec) -> Result<Vec<FileSpec>, Error> {
    let count = spec.file_count()?;
    if spec.preset == Preset::Versions {
        return Ok(crate::versions::plan_pairs(spec, count));
    }
    Ok((0..count as u64).map(|i| file_at(spec, i)).collect())
}

/// Firmware image sizes at scale 1.0, cycled when `--count` asks for more.
const LARGE_SIZES: [u64; 3] = [2 * GIB, 2 * GIB, 4 * GIB];

const MANY_SMALL_MEDIAN: f64 = (96 * KIB) as f64;
const MANY_SMALL_SIGMA: f64 = 1.0;
const MANY_SMALL_MIN: u64 = 16 * KIB;
const MANY_SMALL_MAX: u64 = 2 * MIB;
const MIXED_MIN: u64 = MIB;
const MIXED_MAX: u64 = 64 * MIB;

/// Apps shipping many small web bundles, and how many versions each has live.
#[rustfmt::skip]
const WEB_APPS: [&str; 24] = [
    "account", "ads", "analytics", "auth", "cart", "chat", "checkout", "dashboard",
    "feed", "help", "inbox", "maps", "media-player", "notifications", "onboarding", "payments",
    "profile", "search", "settings", "shop", "stories", "support", "wallet", "weather",
];
const WEB_VERSIONS: u64 = 8;

/// Apps shipping mid-sized bundles (offline packs, asset packs, plugins).
#[rustfmt::skip]
const MIXED_APPS: [&str; 10] = [
    "assets-hd", "camera", "fonts", "game-levels", "maps-offline",
    "ml-models", "navigation", "speech-pack", "translate-offline", "voice-assistant",
];
const MIXED_VERSIONS: u64 = 4;

const FIRMWARE_MODELS: [&str; 4] = ["gateway-x1", "camera-v2", "hub-pro", "sensor-mk3"];

/// Domains of seed derivation.
const META: u64 = 0x6d65_7461; // "meta"
const CONTENT: u64 = 0x6461_7461; // "data"
const VERSION: u64 = 0x7665_7273; // "vers"

/// SplitMix64's finalizer: a bijective, well-mixing u64 -> u64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn derive(seed: u64, preset: Preset, domain: u64, index: u64) -> u64 {
    mix(mix(mix(mix(seed) ^ preset.tag()) ^ domain) ^ index)
}

/// Uniform in (0, 1].
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    ((rng.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn log_normal(rng: &mut ChaCha8Rng, median: f64, sigma: f64) -> f64 {
    // Box-Muller.
    let (u1, u2) = (unit(rng), unit(rng));
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    (median.ln() + sigma * z).exp()
}

fn log_uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + unit(rng) * (hi.ln() - lo.ln())).exp()
}

fn clamp_round(x: f64, lo: u64, hi: u64) -> u64 {
    (x.round() as u64).clamp(lo, hi)
}

/// A plausible, stable version string for version slot `slot` of `app`.
fn version(seed: u64, preset: Preset, app: usize, slot: u64) -> String {
    let h = derive(seed, preset, VERSION, app as u64);
    let major = 1 + h % 5;
    let minor = (h >> 8) % 10 + slot;
    let patch = ((h >> 16) ^ slot.wrapping_mul(7)) % 20;
    format!("{major}.{minor}.{patch}")
}

/// The content seed of pair `index` of a `versions` spec.
pub(crate) fn pair_seed(spec: &Spec, index: u64) -> u64 {
    derive(spec.seed, spec.preset, CONTENT, index)
}

fn file_at(spec: &Spec, i: u64) -> FileSpec {
    let preset = spec.preset;
    let mut rng = ChaCha8Rng::seed_from_u64(derive(spec.seed, preset, META, i));
    let mut pick = |n: u64| rng.next_u64() % n;
    let rel_path = match preset {
        Preset::ManySmall | Preset::Mixed => {
            let (apps, versions): (&[&str], u64) = if preset == Preset::ManySmall {
                (&WEB_APPS, WEB_VERSIONS)
            } else {
                (&MIXED_APPS, MIXED_VERSIONS)
            };
            let app = pick(apps.len() as u64) as usize;
            let slot = pick(versions);
            let version = version(spec.seed, preset, app, slot);
            format!("{}/{version}/bundle-{i:05}.zip", apps[app])
        }
        Preset::Large | Preset::Versions => {
            let model = FIRMWARE_MODELS[i as usize % FIRMWARE_MODELS.len()];
            format!("firmware/{model}-{i}.img")
        }
    };
    let size = spec.size.unwrap_or_else(|| match preset {
        Preset::ManySmall => clamp_round(
            log_normal(&mut rng, MANY_SMALL_MEDIAN, MANY_SMALL_SIGMA),
            MANY_SMALL_MIN,
            MANY_SMALL_MAX,
        ),
        Preset::Mixed => clamp_round(
            log_uniform(&mut rng, MIXED_MIN as f64, MIXED_MAX as f64),
            MIXED_MIN,
            MIXED_MAX,
        ),
        Preset::Large | Preset::Versions => {
            let base = LARGE_SIZES[i as usize % LARGE_SIZES.len()];
            ((base as f64 * spec.scale).round() as u64).max(1)
        }
    });
    FileSpec {
        rel_path,
        size,
        seed: derive(spec.seed, preset, CONTENT, i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn same_spec_same_plan_other_seed_other_plan() {
        let spec = Spec::new(Preset::ManySmall).scale(0.05);
        assert_eq!(plan(&spec).unwrap(), plan(&spec.clone()).unwrap());
        assert_ne!(plan(&spec).unwrap(), plan(&spec.clone().seed(1)).unwrap());
    }

    #[test]
    fn presets_do_not_share_seeds() {
        let a = plan(&Spec::new(Preset::ManySmall).count(5)).unwrap();
        let b = plan(&Spec::new(Preset::Mixed).count(5)).unwrap();
        for (a, b) in a.iter().zip(&b) {
            assert_ne!(a.seed, b.seed);
        }
    }

    #[test]
    fn many_small_sizes_and_layout() {
        let files = plan(&Spec::new(Preset::ManySmall)).unwrap();
        assert_eq!(files.len(), 4000);
        let mut sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        assert!(sizes.iter().all(|s| (16 * KIB..=2 * MIB).contains(s)));
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        assert!((80 * KIB..=112 * KIB).contains(&median), "median {median}");
        // Both clamps are reached, but rarely.
        assert!(sizes[0] == 16 * KIB && sizes.iter().filter(|&&s| s == 16 * KIB).count() < 400);

        let paths: HashSet<&str> = files.iter().map(|f| f.rel_path.as_str()).collect();
        assert_eq!(paths.len(), files.len(), "paths are unique");
        let dirs: HashSet<&str> = files
            .iter()
            .map(|f| f.rel_path.rsplit_once('/').unwrap().0)
            .collect();
        assert!(
            dirs.len() > 50,
            "spread over many app/version dirs: {}",
            dirs.len()
        );
        for f in &files {
            let parts: Vec<&str> = f.rel_path.split('/').collect();
            assert_eq!(parts.len(), 3, "{}", f.rel_path);
            assert!(WEB_APPS.contains(&parts[0]));
            assert_eq!(parts[1].split('.').count(), 3);
            assert!(parts[2].starts_with("bundle-") && parts[2].ends_with(".zip"));
        }
    }

    #[test]
    fn mixed_sizes() {
        let files = plan(&Spec::new(Preset::Mixed)).unwrap();
        assert_eq!(files.len(), 200);
        assert!(files.iter().all(|f| (MIB..=64 * MIB).contains(&f.size)));
        // Log-uniform: about a third below 4 MiB, a third above 16 MiB.
        let below = files.iter().filter(|f| f.size < 4 * MIB).count();
        let above = files.iter().filter(|f| f.size > 16 * MIB).count();
        assert!(
            (40..=95).contains(&below) && (40..=95).contains(&above),
            "{below} {above}"
        );
    }

    #[test]
    fn large_sizes_scale_with_scale() {
        let files = plan(&Spec::new(Preset::Large)).unwrap();
        let sizes: Vec<u64> = files.iter().map(|f| f.size).collect();
        assert_eq!(sizes, [2 * GIB, 2 * GIB, 4 * GIB]);
        assert!(
            files
                .iter()
                .all(|f| f.rel_path.starts_with("firmware/") && f.rel_path.ends_with(".img"))
        );

        let small = plan(&Spec::new(Preset::Large).scale(0.01)).unwrap();
        let sizes: Vec<u64> = small.iter().map(|f| f.size).collect();
        assert_eq!(sizes, [21_474_836, 21_474_836, 42_949_673]);
        // Scale changes sizes only, not names or seeds.
        for (a, b) in files.iter().zip(&small) {
            assert_eq!((&a.rel_path, a.seed), (&b.rel_path, b.seed));
        }
    }

    #[test]
    fn scale_multiplies_count_for_small_presets() {
        assert_eq!(
            plan(&Spec::new(Preset::ManySmall).scale(0.01))
                .unwrap()
                .len(),
            40
        );
        assert_eq!(
            plan(&Spec::new(Preset::Mixed).scale(0.01)).unwrap().len(),
            2
        );
        assert_eq!(
            plan(&Spec::new(Preset::Mixed).scale(1e-9)).unwrap().len(),
            1
        );
        assert_eq!(
            plan(&Spec::new(Preset::Mixed).scale(2.5)).unwrap().len(),
            500
        );
    }

    #[test]
    fn overrides() {
        let fixed = plan(&Spec::new(Preset::ManySmall).scale(0.01).size(16 * KIB)).unwrap();
        assert_eq!(fixed.len(), 40);
        assert!(fixed.iter().all(|f| f.size == 16 * KIB));

        let counted = plan(&Spec::new(Preset::ManySmall).scale(0.01).count(7)).unwrap();
        assert_eq!(counted.len(), 7);

        let large = plan(&Spec::new(Preset::Large).count(5).size(10)).unwrap();
        assert_eq!(large.len(), 5);
        assert!(large.iter().all(|f| f.size == 10));
        let large = plan(&Spec::new(Preset::Large).count(4).scale(1e-6)).unwrap();
        let sizes: Vec<u64> = large.iter().map(|f| f.size).collect();
        assert_eq!(sizes, [2147, 2147, 4295, 2147]);

        assert!(plan(&Spec::new(Preset::Mixed).count(0)).unwrap().is_empty());
    }

    #[test]
    fn size_override_keeps_names_and_seeds() {
        let a = plan(&Spec::new(Preset::Mixed).count(20)).unwrap();
        let b = plan(&Spec::new(Preset::Mixed).count(20).size(1)).unwrap();
        for (a, b) in a.iter().zip(&b) {
            assert_eq!((&a.rel_path, a.seed), (&b.rel_path, b.seed));
        }
    }

    #[test]
    fn bigger_plans_extend_smaller_ones() {
        let small = plan(&Spec::new(Preset::ManySmall).scale(0.01)).unwrap();
        let big = plan(&Spec::new(Preset::ManySmall).scale(0.02)).unwrap();
        assert_eq!(small[..], big[..small.len()]);
    }

    #[test]
    fn rejects_bad_scale_and_huge_counts() {
        for scale in [0.0, -1.0, f64::NAN, f64::INFINITY, MAX_SCALE * 2.0] {
            assert!(matches!(
                plan(&Spec::new(Preset::Mixed).scale(scale)),
                Err(Error::InvalidScale { .. })
            ));
        }
        assert!(matches!(
            plan(&Spec::new(Preset::ManySmall).scale(MAX_SCALE)),
            Err(Error::TooManyFiles { .. })
        ));
        assert!(matches!(
            plan(&Spec::new(Preset::Large).count(MAX_FILES as usize + 1)),
            Err(Error::TooManyFiles { .. })
        ));
    }

    #[test]
    fn preset_names_round_trip() {
        for p in Preset::ALL {
            assert_eq!(p.name().parse::<Preset>(), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert!("huge".parse::<Preset>().is_err());
    }
}
