//! The `versions` preset: pairs of an old and a new version of the same
//! artifact, for delta encoders.
//!
//! Each pair is written as `<out>/old/<name>` and `<out>/new/<name>`, so a
//! publisher can be given `--delta-from <out>/old` and seal `<out>/new`, and
//! match the two by name. The pairs, at `--scale 1`:
//!
//! | name | what | new version |
//! |---|---|---|
//! | `firmware-4m.img`, `firmware-16m.img`, `firmware-32m.img` | machine-code images: patched, grown, inserted, deleted and moved functions, changed tables | about 4, 16, 32 MiB |
//! | `web-bundle.tar` | a tree of JS/CSS/HTML/JSON text files; a few change, one is added, one removed, hashed chunk names follow their content | about 24 MiB |
//! | `web-bundle.zip` | the same two trees, deflated per entry | about 6.5 MiB |
//! | `rewrite-24m.img` | a release where everything changed: two unrelated images of the same size | 24 MiB |
//!
//! A firmware image is an ARM-like program: 4-byte instructions drawn from a
//! skewed per-image vocabulary, `BL` calls with PC-relative offsets, literal
//! pools of absolute addresses, then strings and tables of absolute pointers.
//! Inserting, growing, deleting or moving code shifts every address behind
//! it, so the new version differs from the old one in many scattered words
//! by the same few displacements: what bsdiff's byte-wise differences encode
//! well and plain LZ matching does not.
//!
//! Unlike the other presets, a file's bytes are not a seeded stream: they are
//! built pair by pair ([`version_pair`]), and [`crate::plan()`] builds them to
//! learn the sizes (a deflated zip's size is known only once deflated).

use std::io::Write;

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

use crate::{FileSpec, Spec};

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// What a pair models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A firmware image with edits between versions.
    Firmware,
    /// A web bundle as an uncompressed tar.
    WebTar,
    /// The same web bundle as a zip, deflated per entry.
    WebZip,
    /// Two unrelated images of the same size.
    Rewrite,
}

/// The pairs at scale 1: name stem, extension, kind, nominal size.
const PAIRS: [(&str, &str, Kind, u64); 6] = [
    ("firmware-4m", "img", Kind::Firmware, 4 * MIB),
    ("firmware-16m", "img", Kind::Firmware, 16 * MIB),
    ("firmware-32m", "img", Kind::Firmware, 32 * MIB),
    ("web-bundle", "tar", Kind::WebTar, 24 * MIB),
    ("web-bundle", "zip", Kind::WebZip, 24 * MIB),
    ("rewrite-24m", "img", Kind::Rewrite, 24 * MIB),
];

/// Number of pairs at scale 1 (the preset's default count).
pub(crate) const PAIR_COUNT: usize = PAIRS.len();

/// One old/new pair of the `versions` preset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPair {
    /// File name, the same in `old/` and `new/`.
    pub name: String,
    /// Seed of the pair (recorded as both files' [`FileSpec::seed`]).
    pub seed: u64,
    /// The version the device has.
    pub old: Vec<u8>,
    /// The version to ship.
    pub new: Vec<u8>,
}

/// The name and nominal size of pair `index` (sizes scale with `--scale`;
/// `--size` replaces them). Pairs past the sixth cycle through the six kinds
/// with a `-<round>` suffix.
fn shape(spec: &Spec, index: usize) -> (String, Kind, u64) {
    let (stem, ext, kind, size) = PAIRS[index % PAIRS.len()];
    let round = index / PAIRS.len();
    let name = if round == 0 {
        format!("{stem}.{ext}")
    } else {
        format!("{stem}-{round}.{ext}")
    };
    let size = spec
        .size
        .unwrap_or_else(|| ((size as f64 * spec.scale).round() as u64).max(1));
    (name, kind, size)
}

/// Builds pair `index` of `spec` (a `versions` spec) in memory.
pub fn version_pair(spec: &Spec, index: usize) -> VersionPair {
    let (name, kind, size) = shape(spec, index);
    let seed = crate::plan::pair_seed(spec, index as u64);
    let (old, new) = match kind {
        Kind::Firmware => firmware_pair(seed, size),
        Kind::WebTar => {
            let (a, b) = web_trees(seed, size);
            (tar(&a), tar(&b))
        }
        Kind::WebZip => {
            // The same trees as the tar of this round: same seed.
            let tar_index = index - 1;
            let seed = crate::plan::pair_seed(spec, tar_index as u64);
            let (a, b) = web_trees(seed, size);
            (zip(&a), zip(&b))
        }
        Kind::Rewrite => {
            let mut old = Program::generate(seed, size).layout().bytes;
            let mut new = Program::generate(seed ^ 0x5eed, size).layout().bytes;
            old.resize(size as usize, 0xff);
            new.resize(size as usize, 0xff);
            (old, new)
        }
    };
    VersionPair {
        name,
        seed,
        old,
        new,
    }
}

/// The plan of a `versions` spec: `old/<name>` then `new/<name>` per pair.
pub(crate) fn plan_pairs(spec: &Spec, pairs: usize) -> Vec<FileSpec> {
    (0..pairs)
        .flat_map(|i| {
            let p = version_pair(spec, i);
            pair_files(&p)
        })
        .collect()
}

/// The two [`FileSpec`]s of a built pair.
pub(crate) fn pair_files(p: &VersionPair) -> [FileSpec; 2] {
    [
        FileSpec {
            rel_path: format!("old/{}", p.name),
            size: p.old.len() as u64,
            seed: p.seed,
        },
        FileSpec {
            rel_path: format!("new/{}", p.name),
            size: p.new.len() as u64,
            seed: p.seed,
        },
    ]
}

// ---------------------------------------------------------------------------
// Firmware

/// Load address of the images (absolute pointers are relative to it).
const LOAD_ADDR: u32 = 0x0800_0000;

/// Size of the per-image instruction vocabulary.
const VOCAB: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Insn {
    /// Any instruction that does not refer to an address.
    Word(u32),
    /// `BL` to a function (24-bit PC-relative word offset).
    Call(u32),
    /// `LDR rd, [pc, #imm12]` of literal `n` of the function's pool.
    LoadLit(u8, u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lit {
    /// Absolute address of a function.
    Func(u32),
    /// Absolute address of string `n`.
    Str(u32),
    /// A constant.
    Const(u32),
}

#[derive(Debug, Clone)]
struct Function {
    id: u32,
    body: Vec<Insn>,
    pool: Vec<Lit>,
}

#[derive(Debug, Clone)]
struct Program {
    version: u32,
    functions: Vec<Function>,
    strings: Vec<Vec<u8>>,
    /// A table of function pointers (vtables, handlers).
    handlers: Vec<u32>,
    /// Configuration records: (key, value, string index).
    config: Vec<(u32, u32, u32)>,
    /// Next unused function id.
    next_id: u32,
    vocab: Vec<u32>,
}

#[rustfmt::skip]
const LOG_WORDS: [&str; 32] = [
    "init", "failed", "sensor", "timeout", "retry", "flash", "write", "read",
    "config", "invalid", "checksum", "boot", "update", "network", "link", "down",
    "up", "error", "warning", "bus", "i2c", "spi", "uart", "dma",
    "irq", "watchdog", "reset", "power", "battery", "low", "ok", "ready",
];

struct Layout {
    bytes: Vec<u8>,
}

/// Skewed pick in `0..n`: small indices much more often (like opcodes).
fn skewed(rng: &mut ChaCha8Rng, n: usize) -> usize {
    let a = rng.next_u32() as u64;
    let b = rng.next_u32() as u64;
    ((((a * b) >> 32) as usize) * n) >> 32
}

impl Program {
    fn vocabulary(rng: &mut ChaCha8Rng) -> Vec<u32> {
        // ARM-like: condition AL, a handful of opcode classes, random fields.
        const CLASSES: [u32; 8] = [
            0xe080_0000, // add
            0xe040_0000, // sub
            0xe1a0_0000, // mov
            0xe590_0000, // ldr
            0xe580_0000, // str
            0xe350_0000, // cmp
            0xe92d_0000, // push
            0xe8bd_0000, // pop
        ];
        (0..VOCAB)
            .map(|_| {
                let r = rng.next_u32();
                CLASSES[(r >> 29) as usize] | (r & 0x000f_ffff)
            })
            .collect()
    }

    fn random_insn(&self, rng: &mut ChaCha8Rng, functions: u32) -> Insn {
        match rng.next_u32() % 100 {
            0..=7 if functions > 0 => Insn::Call(rng.next_u32() % functions),
            8..=13 => Insn::LoadLit((rng.next_u32() % 13) as u8, 0),
            // Conditional branches within the function, and immediates.
            14..=19 => Insn::Word(0x1a00_0000 | (rng.next_u32() & 0xff) | 0x00ff_ff00),
            20..=23 => Insn::Word(rng.next_u32()),
            _ => Insn::Word(self.vocab[skewed(rng, VOCAB)]),
        }
    }

    fn random_function(&mut self, rng: &mut ChaCha8Rng) -> Function {
        let id = self.next_id;
        self.next_id += 1;
        let len = 8 + skewed(rng, 400);
        let mut body = Vec::with_capacity(len + 2);
        body.push(Insn::Word(0xe92d_4ff0)); // push {r4-r11, lr}
        let mut pool = Vec::new();
        for _ in 0..len {
            let mut insn = self.random_insn(rng, id.max(1));
            if let Insn::LoadLit(rd, _) = insn {
                let lit = match rng.next_u32() % 3 {
                    0 => Lit::Func(rng.next_u32() % id.max(1)),
                    1 => Lit::Str(rng.next_u32() % self.strings.len().max(1) as u32),
                    _ => Lit::Const(rng.next_u32() & 0xffff),
                };
                pool.push(lit);
                insn = Insn::LoadLit(rd, (pool.len() - 1) as u16);
            }
            body.push(insn);
        }
        body.push(Insn::Word(0xe8bd_8ff0)); // pop {r4-r11, pc}
        Function { id, body, pool }
    }

    fn random_string(rng: &mut ChaCha8Rng) -> Vec<u8> {
        let words = 2 + rng.next_u32() % 6;
        let mut s = Vec::new();
        for w in 0..words {
            if w > 0 {
                s.push(b' ');
            }
            s.extend_from_slice(LOG_WORDS[(rng.next_u32() % 32) as usize].as_bytes());
        }
        if rng.next_u32().is_multiple_of(3) {
            s.extend_from_slice(b": %d");
        }
        s.push(0);
        s
    }

    /// A program whose image is about `size` bytes.
    fn generate(seed: u64, size: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut p = Program {
            version: 1 + rng.next_u32() % 1000,
            functions: Vec::new(),
            strings: Vec::new(),
            handlers: Vec::new(),
            config: Vec::new(),
            next_id: 0,
            vocab: Self::vocabulary(&mut rng),
        };
        // About 80% code, 10% strings, 10% tables.
        let strings_bytes = size / 10;
        let mut total = 0u64;
        while total < strings_bytes {
            let s = Self::random_string(&mut rng);
            total += s.len() as u64;
            p.strings.push(s);
        }
        let code_bytes = size * 8 / 10;
        let mut total = 0u64;
        while total < code_bytes {
            let f = p.random_function(&mut rng);
            total += 4 * (f.body.len() + f.pool.len()) as u64;
            p.functions.push(f);
        }
        let n = p.next_id;
        let table_entries = (size / 10 / 4 / 2).max(1);
        for _ in 0..table_entries {
            p.handlers.push(rng.next_u32() % n.max(1));
        }
        for k in 0..(size / 10 / 12 / 2).max(1) {
            p.config.push((
                k as u32,
                rng.next_u32() % 4096,
                rng.next_u32() % p.strings.len().max(1) as u32,
            ));
        }
        p
    }

    /// The next version: patched, grown, inserted, deleted and moved
    /// functions, changed strings and tables.
    fn evolve(&self, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut p = self.clone();
        p.version += 1;
        let n = p.functions.len();
        let count = |rate: u64| ((n as u64 * rate) / 1000).max(1);
        // Patched: a few words changed in place.
        for _ in 0..count(20) {
            let i = rng.next_u64() as usize % p.functions.len();
            let functions = p.next_id;
            let f = p.functions[i].clone();
            let mut body = f.body;
            for _ in 0..1 + rng.next_u32() % 6 {
                let at = 1 + rng.next_u64() as usize % (body.len() - 2);
                if !matches!(body[at], Insn::LoadLit(..)) {
                    body[at] = match p.random_insn(&mut rng, functions) {
                        Insn::LoadLit(..) => Insn::Word(p.vocab[skewed(&mut rng, VOCAB)]),
                        insn => insn,
                    };
                }
            }
            p.functions[i].body = body;
        }
        // Grown or shrunk: instructions inserted or removed.
        for _ in 0..count(10) {
            let i = rng.next_u64() as usize % p.functions.len();
            let functions = p.next_id;
            let at = 1 + rng.next_u64() as usize % (p.functions[i].body.len() - 1);
            if rng.next_u32() % 4 == 0 && p.functions[i].body.len() > 12 {
                let end = (at + 1 + rng.next_u64() as usize % 8).min(p.functions[i].body.len() - 1);
                // Keep literal loads so the pool stays referenced.
                let kept: Vec<Insn> = p.functions[i].body[at..end]
                    .iter()
                    .copied()
                    .filter(|x| matches!(x, Insn::LoadLit(..)))
                    .collect();
                p.functions[i].body.splice(at..end, kept);
            } else {
                let extra: Vec<Insn> = (0..1 + rng.next_u32() % 24)
                    .map(|_| match p.random_insn(&mut rng, functions) {
                        Insn::LoadLit(..) => Insn::Word(p.vocab[skewed(&mut rng, VOCAB)]),
                        insn => insn,
                    })
                    .collect();
                p.functions[i].body.splice(at..at, extra);
            }
        }
        // Inserted: new functions in the middle, called from old ones.
        for _ in 0..count(5) {
            let f = p.random_function(&mut rng);
            let id = f.id;
            let at = rng.next_u64() as usize % (p.functions.len() + 1);
            p.functions.insert(at, f);
            for _ in 0..3 {
                let caller = rng.next_u64() as usize % p.functions.len();
                let body = &mut p.functions[caller].body;
                let at = 1 + rng.next_u64() as usize % (body.len() - 1);
                body.insert(at, Insn::Call(id));
            }
            p.handlers.push(id);
        }
        // Deleted: calls and pointers to them go to a neighbour instead.
        let mut redirect = std::collections::HashMap::new();
        for _ in 0..count(2) {
            if p.functions.len() < 3 {
                break;
            }
            let i = 1 + rng.next_u64() as usize % (p.functions.len() - 2);
            let gone = p.functions.remove(i);
            redirect.insert(gone.id, p.functions[i - 1].id);
        }
        let fix = |id: &mut u32| {
            while let Some(&to) = redirect.get(id) {
                *id = to;
            }
        };
        for f in &mut p.functions {
            for insn in &mut f.body {
                if let Insn::Call(id) = insn {
                    fix(id);
                }
            }
            for lit in &mut f.pool {
                if let Lit::Func(id) = lit {
                    fix(id);
                }
            }
        }
        p.handlers.iter_mut().for_each(fix);
        // Moved: a run of functions relocated elsewhere (a link-order change).
        let run = (count(10) as usize).min(p.functions.len() / 4).max(1);
        let from = rng.next_u64() as usize % (p.functions.len() - run + 1);
        let moved: Vec<Function> = p.functions.drain(from..from + run).collect();
        let to = rng.next_u64() as usize % (p.functions.len() + 1);
        p.functions.splice(to..to, moved);
        // Strings: a few rewritten, a few inserted.
        for _ in 0..(p.strings.len() / 200).max(1) {
            let i = rng.next_u64() as usize % p.strings.len();
            p.strings[i] = Self::random_string(&mut rng);
        }
        for _ in 0..(p.strings.len() / 500).max(1) {
            let i = rng.next_u64() as usize % (p.strings.len() + 1);
            let s = Self::random_string(&mut rng);
            p.strings.insert(i, s);
        }
        // Tables: config values changed.
        for _ in 0..(p.config.len() / 50).max(1) {
            let i = rng.next_u64() as usize % p.config.len();
            p.config[i].1 = rng.next_u32() % 4096;
        }
        p
    }

    /// Lays the program out and emits its image.
    fn layout(&self) -> Layout {
        const HEADER: usize = 256;
        // Addresses of functions (by id) and of strings.
        let mut func_addr = vec![0u32; self.next_id as usize];
        let mut at = HEADER;
        for f in &self.functions {
            func_addr[f.id as usize] = LOAD_ADDR + at as u32;
            at += 4 * (f.body.len() + f.pool.len());
        }
        let code_end = at;
        let mut str_addr = Vec::with_capacity(self.strings.len());
        for s in &self.strings {
            str_addr.push(LOAD_ADDR + at as u32);
            at += s.len();
        }
        at = at.next_multiple_of(4);
        let total = at + 4 * self.handlers.len() + 12 * self.config.len();
        let mut out = Vec::with_capacity(total.next_multiple_of(4096));

        // Header: magic, version, section offsets, build string.
        out.extend_from_slice(b"OTFW");
        for v in [
            self.version,
            HEADER as u32,
            code_end as u32,
            at as u32,
            self.handlers.len() as u32,
            self.config.len() as u32,
            total as u32,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let build = format!("firmware build {} (release)", self.version);
        out.extend_from_slice(build.as_bytes());
        out.resize(HEADER, 0);

        let lit_value = |lit: &Lit| match *lit {
            Lit::Func(id) => func_addr[id as usize],
            Lit::Str(n) => str_addr.get(n as usize).copied().unwrap_or(LOAD_ADDR),
            Lit::Const(c) => c,
        };
        for f in &self.functions {
            let start = out.len();
            let pool_at = start + 4 * f.body.len();
            for (k, insn) in f.body.iter().enumerate() {
                let pc = start + 4 * k;
                let word = match *insn {
                    Insn::Word(w) => w,
                    Insn::Call(id) => {
                        let target = func_addr[id as usize] as i64 - LOAD_ADDR as i64;
                        let off = (target - (pc as i64 + 8)) >> 2;
                        0xeb00_0000 | (off as u32 & 0x00ff_ffff)
                    }
                    Insn::LoadLit(rd, n) => {
                        let lit = pool_at + 4 * usize::from(n);
                        let imm = (lit as i64 - (pc as i64 + 8)) as u32 & 0xfff;
                        0xe59f_0000 | (u32::from(rd) << 12) | imm
                    }
                };
                out.extend_from_slice(&word.to_le_bytes());
            }
            for lit in &f.pool {
                out.extend_from_slice(&lit_value(lit).to_le_bytes());
            }
        }
        for s in &self.strings {
            out.extend_from_slice(s);
        }
        out.resize(at, 0);
        for &h in &self.handlers {
            out.extend_from_slice(&func_addr[h as usize].to_le_bytes());
        }
        for &(k, v, s) in &self.config {
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&v.to_le_bytes());
            let s = str_addr.get(s as usize).copied().unwrap_or(LOAD_ADDR);
            out.extend_from_slice(&s.to_le_bytes());
        }
        debug_assert_eq!(out.len(), total);
        // Padded with erased-flash bytes to a 4 KiB sector.
        out.resize(total.next_multiple_of(4096), 0xff);
        Layout { bytes: out }
    }
}

fn firmware_pair(seed: u64, size: u64) -> (Vec<u8>, Vec<u8>) {
    let old = Program::generate(seed, size);
    let new = old.evolve(seed ^ 0x6e65_7776);
    (old.layout().bytes, new.layout().bytes)
}

// ---------------------------------------------------------------------------
// Web bundles

/// A tree of files, sorted by path.
type Tree = Vec<(String, Vec<u8>)>;

#[rustfmt::skip]
const JS_WORDS: [&str; 48] = [
    "function", "return", "const", "let", "if", "else", "for", "import",
    "export", "from", "default", "class", "new", "this", "null", "true",
    "false", "await", "async", "=>", "{", "}", "(", ")",
    ";", "=", "===", "&&", "props", "state", "render", "div",
    "className", "onClick", "value", "length", "push", "map", "filter", "useState",
    "useEffect", "React.createElement", "document", "window", "items", "key", "0", "1",
];

#[rustfmt::skip]
const CSS_PROPS: [&str; 16] = [
    "color", "margin", "padding", "display", "flex", "border", "font-size", "width",
    "height", "background", "position", "top", "left", "z-index", "opacity", "transition",
];

fn js_line(rng: &mut ChaCha8Rng, out: &mut Vec<u8>) {
    let indent = rng.next_u32() % 4;
    out.extend(std::iter::repeat_n(b' ', 2 * indent as usize));
    for k in 0..3 + rng.next_u32() % 10 {
        if k > 0 {
            out.push(b' ');
        }
        let r = rng.next_u32();
        if r.is_multiple_of(11) {
            // Identifiers: a small per-file set makes text compress like code.
            let _ = write!(out, "v{}", (r >> 8) % 97);
        } else {
            out.extend_from_slice(JS_WORDS[skewed(rng, JS_WORDS.len())].as_bytes());
        }
    }
    out.push(b'\n');
}

fn css_line(rng: &mut ChaCha8Rng, out: &mut Vec<u8>) {
    let r = rng.next_u32();
    if r.is_multiple_of(6) {
        let _ = writeln!(out, ".c{} {{", (r >> 8) % 5000);
    } else if r % 6 == 1 {
        out.extend_from_slice(b"}\n");
    } else {
        let _ = writeln!(
            out,
            "  {}: {}px;",
            CSS_PROPS[(r >> 8) as usize % CSS_PROPS.len()],
            (r >> 16) % 64
        );
    }
}

fn text_file(rng: &mut ChaCha8Rng, ext: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 128);
    match ext {
        "html" => out.extend_from_slice(b"<!doctype html>\n<html><head><meta charset=\"utf-8\">\n"),
        "json" => out.extend_from_slice(b"{\n"),
        _ => {}
    }
    while out.len() < len {
        match ext {
            "css" => css_line(rng, &mut out),
            "json" => {
                let r = rng.next_u32();
                let _ = writeln!(
                    out,
                    "  \"{}.{}\": \"{} {}\",",
                    LOG_WORDS[r as usize % 32],
                    (r >> 5) % 1000,
                    LOG_WORDS[(r >> 15) as usize % 32],
                    LOG_WORDS[(r >> 20) as usize % 32]
                );
            }
            _ => js_line(rng, &mut out),
        }
    }
    out.truncate(len);
    out.push(b'\n');
    out
}

/// Edits a text file: a few lines replaced, inserted and deleted.
fn edit_text(rng: &mut ChaCha8Rng, ext: &str, old: &[u8]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = old
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect();
    let edits = 1 + lines.len() / 100;
    for _ in 0..edits {
        let at = rng.next_u64() as usize % lines.len();
        let mut line = Vec::new();
        if ext == "css" {
            css_line(rng, &mut line);
        } else {
            js_line(rng, &mut line);
        }
        match rng.next_u32() % 3 {
            0 => lines[at] = line,
            1 => lines.insert(at, line),
            _ if lines.len() > 2 => {
                lines.remove(at);
            }
            _ => {}
        }
    }
    lines.concat()
}

/// Short content hash for webpack-like chunk names.
fn short_hash(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{:08x}", h >> 32)
}

/// The old and new trees of a web bundle of about `size` bytes.
fn web_trees(seed: u64, size: u64) -> (Tree, Tree) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // (directory, extension, hashed name?) per file, sizes log-uniform 2-256 KiB.
    let mut specs: Vec<(String, &str, bool, Vec<u8>)> = Vec::new();
    let mut total = 0u64;
    let mut n = 0u32;
    while total < size {
        let r = rng.next_u32();
        let (dir, ext, hashed) = match r % 10 {
            0..=5 => ("static/js", "js", true),
            6..=7 => ("static/css", "css", true),
            8 => ("locales", "json", false),
            _ => ("components", "js", false),
        };
        let lo = (2 * KIB) as f64;
        let hi = (256 * KIB) as f64;
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let len = ((lo.ln() + u * (hi.ln() - lo.ln())).exp() as u64).min(size - total + 1);
        let body = text_file(&mut rng, ext, len as usize);
        total += body.len() as u64 + 512;
        specs.push((format!("{dir}/m{n:04}"), ext, hashed, body));
        n += 1;
    }
    let name = |(stem, ext, hashed, body): &(String, &str, bool, Vec<u8>)| {
        if *hashed {
            format!("{stem}.{}.{ext}", short_hash(body))
        } else {
            format!("{stem}.{ext}")
        }
    };
    let index_html = |files: &[(String, &str, bool, Vec<u8>)], version: u32| {
        let mut html = format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>app {version}</title>\n"
        );
        for f in files {
            let path = name(f);
            match f.1 {
                "css" => html.push_str(&format!("<link rel=\"stylesheet\" href=\"/{path}\">\n")),
                "js" if f.2 => html.push_str(&format!("<script src=\"/{path}\"></script>\n")),
                _ => {}
            }
        }
        html.push_str("</head><body><div id=\"root\"></div></body></html>\n");
        html.into_bytes()
    };
    let manifest = |files: &[(String, &str, bool, Vec<u8>)], version: u32| {
        let mut json = format!("{{\n  \"version\": \"2.{version}.0\",\n  \"files\": {{\n");
        for f in files {
            json.push_str(&format!(
                "    \"{}\": {{ \"size\": {}, \"hash\": \"{}\" }},\n",
                f.0,
                f.3.len(),
                short_hash(&f.3)
            ));
        }
        json.push_str("  }\n}\n");
        json.into_bytes()
    };
    let tree = |files: &[(String, &str, bool, Vec<u8>)], version: u32| {
        let mut t: Tree = files.iter().map(|f| (name(f), f.3.clone())).collect();
        t.push(("index.html".into(), index_html(files, version)));
        t.push(("asset-manifest.json".into(), manifest(files, version)));
        t.sort();
        t
    };
    let version = 1 + rng.next_u32() % 50;
    let old = tree(&specs, version);

    // The next release: ~3% of the files edited, one added, one removed.
    let mut next = specs.clone();
    for _ in 0..(next.len() / 30).max(1) {
        let i = rng.next_u64() as usize % next.len();
        let ext = next[i].1;
        next[i].3 = edit_text(&mut rng, ext, &next[i].3);
    }
    if next.len() > 2 {
        let i = rng.next_u64() as usize % next.len();
        next.remove(i);
    }
    let body = text_file(&mut rng, "js", (32 * KIB) as usize);
    next.push((format!("static/js/m{n:04}"), "js", true, body));
    let new = tree(&next, version + 1);
    (old, new)
}

/// An uncompressed POSIX ustar archive with fixed owners and times.
fn tar(tree: &Tree) -> Vec<u8> {
    let mut out = Vec::new();
    for (path, body) in tree {
        let mut h = [0u8; 512];
        let name = format!("app/{path}");
        assert!(name.len() < 100, "tar name too long: {name}");
        h[..name.len()].copy_from_slice(name.as_bytes());
        let mut field = |at: usize, len: usize, value: u64| {
            let s = format!("{value:0w$o}\0", w = len - 1);
            h[at..at + len].copy_from_slice(s.as_bytes());
        };
        field(100, 8, 0o644);
        field(108, 8, 0);
        field(116, 8, 0);
        field(124, 12, body.len() as u64);
        field(136, 12, 1_764_547_200); // 2025-12-01T00:00:00Z
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[265..269].copy_from_slice(b"root");
        h[297..301].copy_from_slice(b"root");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(body);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A zip archive, every entry deflated (level 6), fixed times.
fn zip(tree: &Tree) -> Vec<u8> {
    const TIME: u16 = 0; // 00:00:00
    const DATE: u16 = ((2025 - 1980) << 9) | (12 << 5) | 1; // 2025-12-01
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (path, body) in tree {
        let name = format!("app/{path}");
        let mut crc = flate2::Crc::new();
        crc.update(body);
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::new(6));
        enc.write_all(body).expect("deflate into a Vec");
        let data = enc.finish().expect("deflate into a Vec");
        let offset = out.len() as u32;
        let common = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&8u16.to_le_bytes()); // deflate
            v.extend_from_slice(&TIME.to_le_bytes());
            v.extend_from_slice(&DATE.to_le_bytes());
            v.extend_from_slice(&crc.sum().to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(body.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&(0x0300u16 | 20).to_le_bytes()); // made by: Unix
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes());
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(tree.len() as u16).to_le_bytes());
    out.extend_from_slice(&(tree.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Preset, plan};

    fn small() -> Spec {
        Spec::new(Preset::Versions).scale(1.0 / 64.0)
    }

    #[test]
    fn pairs_are_deterministic_and_seeded() {
        let spec = small();
        for i in 0..PAIR_COUNT {
            assert_eq!(version_pair(&spec, i), version_pair(&spec, i), "pair {i}");
        }
        let other = spec.clone().seed(5);
        assert_ne!(version_pair(&spec, 0).old, version_pair(&other, 0).old);
    }

    #[test]
    fn names_sizes_and_differences() {
        let spec = small();
        let names: Vec<String> = (0..PAIR_COUNT)
            .map(|i| version_pair(&spec, i).name)
            .collect();
        assert_eq!(
            names,
            [
                "firmware-4m.img",
                "firmware-16m.img",
                "firmware-32m.img",
                "web-bundle.tar",
                "web-bundle.zip",
                "rewrite-24m.img"
            ]
        );
        for i in 0..PAIR_COUNT {
            let p = version_pair(&spec, i);
            let (_, kind, nominal) = shape(&spec, i);
            assert_ne!(p.old, p.new, "{}", p.name);
            let (lo, hi) = match kind {
                // Code, strings and tables about fill the nominal size.
                Kind::Firmware => (nominal * 9 / 10, nominal * 12 / 10 + 8192),
                Kind::WebTar => (nominal, nominal * 13 / 10 + 8192),
                Kind::WebZip => (nominal / 8, nominal / 2),
                Kind::Rewrite => (nominal, nominal),
            };
            for (which, bytes) in [("old", &p.old), ("new", &p.new)] {
                let len = bytes.len() as u64;
                assert!(
                    (lo..=hi).contains(&len),
                    "{} {which}: {len} not in {lo}..={hi}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn firmware_versions_share_most_code() {
        let p = version_pair(&small(), 1);
        // Same-offset words: most differ once code moved, yet the new image's
        // 64-byte blocks mostly appear somewhere in the old one.
        let old_blocks: std::collections::HashSet<&[u8]> = p.old.chunks(4).collect();
        let shared = p.new.chunks(4).filter(|w| old_blocks.contains(w)).count();
        assert!(shared * 10 > p.new.len() / 4 * 8, "{shared}");
        assert_eq!(&p.old[..4], b"OTFW");
    }

    #[test]
    fn archives_are_well_formed() {
        let spec = small();
        let tar_pair = version_pair(&spec, 3);
        for t in [&tar_pair.old, &tar_pair.new] {
            assert_eq!(t.len() % 512, 0);
            assert_eq!(&t[257..263], b"ustar\0");
            assert!(t.starts_with(b"app/"));
        }
        let zip_pair = version_pair(&spec, 4);
        for z in [&zip_pair.old, &zip_pair.new] {
            assert_eq!(&z[..4], &[0x50, 0x4b, 0x03, 0x04]);
            assert_eq!(&z[z.len() - 22..z.len() - 18], &[0x50, 0x4b, 0x05, 0x06]);
        }
        // The first entry inflates back to the tar's first member.
        let name_len = u16::from_le_bytes([zip_pair.old[26], zip_pair.old[27]]) as usize;
        let csize = u32::from_le_bytes(zip_pair.old[18..22].try_into().unwrap()) as usize;
        let data = &zip_pair.old[30 + name_len..30 + name_len + csize];
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::DeflateDecoder::new(data), &mut inflated)
            .unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&tar_pair.old[124..135]).unwrap(), 8)
            .unwrap();
        assert_eq!(inflated, tar_pair.old[512..512 + size]);
    }

    #[test]
    fn generate_writes_old_and_new_trees() {
        let dir = tempfile::tempdir().unwrap();
        let spec = small().count(2);
        let summary = crate::generate(&spec, dir.path()).unwrap();
        assert_eq!((summary.files, summary.written_files), (4, 4));
        let manifest = crate::read_manifest(dir.path()).unwrap();
        assert_eq!(manifest.files, plan(&spec).unwrap());
        for i in 0..2 {
            let p = version_pair(&spec, i);
            let read = |side: &str| std::fs::read(dir.path().join(side).join(&p.name)).unwrap();
            assert!(read("old") == p.old && read("new") == p.new, "{}", p.name);
        }
        // Resuming writes nothing.
        let again = crate::generate(&spec, dir.path()).unwrap();
        assert_eq!((again.written_files, again.skipped_files), (0, 4));
    }

    #[test]
    fn plan_lists_old_and_new_with_sizes() {
        let spec = small().count(3);
        let files = plan(&spec).unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.rel_path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "old/firmware-4m.img",
                "new/firmware-4m.img",
                "old/firmware-16m.img",
                "new/firmware-16m.img",
                "old/firmware-32m.img",
                "new/firmware-32m.img"
            ]
        );
        let p = version_pair(&spec, 2);
        assert_eq!(files[4].size, p.old.len() as u64);
        assert_eq!(files[5].size, p.new.len() as u64);
        // Past the sixth pair, names get a round suffix.
        assert_eq!(shape(&spec, 7).0, "firmware-16m-1.img");
        // --size replaces every nominal size.
        let sized = small().size(64 * KIB);
        assert_eq!(version_pair(&sized, 5).new.len() as u64, 64 * KIB);
    }
}
