//! The tamper-evident audit log of key use (`docs/FORMAT.md` §16).
//!
//! Every key operation appends one JSON line. Each line records the BLAKE3
//! hash of the line before it (the first line chains from a fixed genesis
//! value), so editing, deleting, inserting or reordering any line breaks the
//! chain at a line [`verify`] names. Appends are crash-safe: the file is
//! opened `O_APPEND`, locked with `flock(2)` so concurrent writers cannot
//! fork the chain, the line goes out in one `write` with its newline last,
//! and is `fsync`ed before the operation proceeds. A line without its
//! newline (an append cut short by a crash) is reported, never accepted.
//!
//! What the log never holds: secret keys, passphrases, data keys, plaintext.
//! Events carry key ids, bundle ids, digests, counts and short reasons.

pub mod alerts;
pub mod checkpoint;
pub mod suspend;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::keys::{KeyId, SigAlg, Signer};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

pub use suspend::Suspensions;

/// Longest line the log accepts.
pub const MAX_LINE_LEN: usize = 16 * 1024;

/// BLAKE3 key-derivation context of the genesis value the first entry chains from.
pub const GENESIS_CONTEXT: &str = "otaseal v1 audit log genesis";

/// The `prev` value of the first entry: `BLAKE3-derive_key(GENESIS_CONTEXT, "")`.
pub fn genesis() -> [u8; 32] {
    blake3::derive_key(GENESIS_CONTEXT, b"")
}

/// The hash a line contributes to the next entry's `prev`: BLAKE3 of the
/// line's bytes without its newline.
pub fn line_hash(line: &[u8]) -> [u8; 32] {
    *blake3::hash(line).as_bytes()
}

/// Key operations the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Op {
    Generate,
    Unlock,
    Sign,
    Wrap,
    Unwrap,
    Certify,
    Rotate,
    RootRotate,
    Revoke,
    Suspend,
    Resume,
    Verify,
    /// An operator marks a key as compromised (alert level high).
    Compromised,
    /// An operator marks the root as compromised (alert level critical).
    RootCompromised,
    /// An operator reports an active exploit (alert level critical).
    Exploit,
    /// A signed checkpoint of the log's head (`checkpoint` module).
    Checkpoint,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Generate => "generate",
            Self::Unlock => "unlock",
            Self::Sign => "sign",
            Self::Wrap => "wrap",
            Self::Unwrap => "unwrap",
            Self::Certify => "certify",
            Self::Rotate => "rotate",
            Self::RootRotate => "root_rotate",
            Self::Revoke => "revoke",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Verify => "verify",
            Self::Compromised => "compromised",
            Self::RootCompromised => "root_compromised",
            Self::Exploit => "exploit",
            Self::Checkpoint => "checkpoint",
        }
    }
}

/// Whether the operation succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Failed,
}

/// One event to record. Build with [`Event::new`] and [`Event::detail`].
#[derive(Debug, Clone)]
pub struct Event {
    pub op: Op,
    pub key: Option<KeyId>,
    pub outcome: Outcome,
    detail: serde_json::Map<String, serde_json::Value>,
}

impl Event {
    pub fn new(op: Op, key: Option<KeyId>, outcome: Outcome) -> Self {
        Self {
            op,
            key,
            outcome,
            detail: serde_json::Map::new(),
        }
    }

    pub fn ok(op: Op, key: KeyId) -> Self {
        Self::new(op, Some(key), Outcome::Ok)
    }

    /// Adds a detail field. Values must be public: ids, digests, names,
    /// counts, reasons. Never secret material.
    #[must_use]
    pub fn detail(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.detail.insert(name.to_owned(), value.into());
        self
    }
}

/// What an operator reports (`otaseal audit mark`); the alert rules read
/// these entries (§16.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorReport {
    /// A key is compromised (alert level high).
    Compromised(KeyId),
    /// The root is compromised (alert level critical).
    RootCompromised(Option<KeyId>),
    /// An active exploit is under way (alert level critical).
    Exploit(Option<KeyId>),
}

/// The on-disk form of one line. Field order is fixed by this struct.
#[derive(Serialize)]
struct EntryOut<'a> {
    seq: u64,
    ts: u64,
    op: &'static str,
    key: Option<String>,
    outcome: Outcome,
    detail: &'a serde_json::Map<String, serde_json::Value>,
    prev: String,
}

/// A line read back from the log.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1 for the first line, then +1 per line.
    pub seq: u64,
    /// Unix seconds when the entry was appended.
    pub ts: u64,
    /// The operation (`Op` in snake case; unknown names are kept as text).
    pub op: String,
    /// The key used, as 32 hex digits.
    pub key: Option<String>,
    pub outcome: Outcome,
    #[serde(default)]
    pub detail: serde_json::Map<String, serde_json::Value>,
    /// Hex BLAKE3 hash of the previous line (or of the genesis value).
    pub prev: String,
}

impl Entry {
    pub fn key_id(&self) -> Option<KeyId> {
        let hex_id = self.key.as_deref()?;
        let mut id = [0u8; 16];
        hex::decode_to_slice(hex_id, &mut id).ok()?;
        Some(KeyId(id))
    }
}

/// Where a log stands after an append or a verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Number of entries (the last entry's `seq`).
    pub entries: u64,
    /// Hash of the last line (the genesis value for an empty log).
    pub hash: [u8; 32],
}

/// An append-only audit log file.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    /// Stamps each entry's `ts` (and a suspension's `since`).
    clock: Clock,
}

impl AuditLog {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            clock: Clock::System,
        }
    }

    /// The same log, with entries stamped by `clock` (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The log named by the `OTASEAL_AUDIT_LOG` environment variable, if set.
    pub fn from_env() -> Option<Self> {
        std::env::var_os("OTASEAL_AUDIT_LOG")
            .filter(|v| !v.is_empty())
            .map(Self::new)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The suspension state that lives next to the log: `<log>.suspended`.
    pub fn suspension_path(&self) -> PathBuf {
        let mut s = self.path.as_os_str().to_owned();
        s.push(".suspended");
        PathBuf::from(s)
    }

    /// Appends `event` stamped with the log's clock.
    pub fn append(&self, event: &Event) -> Result<Head> {
        self.append_at(event, self.clock.now())
    }

    /// Appends `event` stamped `ts` (Unix seconds). The file is created
    /// (mode 0600) if missing. Refuses to append after a torn last line.
    pub fn append_at(&self, event: &Event, ts: u64) -> Result<Head> {
        self.append_with(ts, |_| Ok(event.clone()))
    }

    /// Appends the event `make` builds from the current head, all under the
    /// log's lock (so a checkpoint signs exactly the head it follows).
    pub fn append_with(&self, ts: u64, make: impl FnOnce(&Head) -> Result<Event>) -> Result<Head> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode_0600()
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        // Held until `file` is closed at the end of this call.
        crate::files::lock_exclusive(&file).map_err(|e| Error::io(&self.path, e))?;
        let head = self.tail(&mut file)?;
        let event = make(&head)?;
        let out = EntryOut {
            seq: head.entries + 1,
            ts,
            op: event.op.as_str(),
            key: event.key.map(|k| k.to_string()),
            outcome: event.outcome,
            detail: &event.detail,
            prev: hex::encode(head.hash),
        };
        let mut line = serde_json::to_vec(&out).map_err(|e| self.bad(head.entries + 1, e))?;
        if line.len() > MAX_LINE_LEN {
            return Err(self.bad(head.entries + 1, "entry is longer than 16 KiB"));
        }
        let hash = line_hash(&line);
        line.push(b'\n');
        // One write of the whole line: with O_APPEND it lands at the end in
        // one piece; a crash mid-write leaves a line without its newline,
        // which readers report as torn.
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(Head {
            entries: head.entries + 1,
            hash,
        })
    }

    /// Records an operator's report, with `note` unless it is empty. A
    /// compromised key is also suspended (and the suspension recorded): it
    /// signs nothing more until it is resumed.
    pub fn mark(&self, report: OperatorReport, note: &str) -> Result<()> {
        let (op, key) = match report {
            OperatorReport::Compromised(k) => (Op::Compromised, Some(k)),
            OperatorReport::RootCompromised(k) => (Op::RootCompromised, k),
            OperatorReport::Exploit(k) => (Op::Exploit, k),
        };
        let mut event = Event::new(op, key, Outcome::Ok);
        if !note.is_empty() {
            event = event.detail("note", note);
        }
        self.append(&event)?;
        if let OperatorReport::Compromised(k) = report {
            self.suspend_keys([(k, "marked compromised".to_owned())])?;
        }
        Ok(())
    }

    fn bad(&self, line: u64, reason: impl std::fmt::Display) -> Error {
        Error::AuditLog {
            path: self.path.clone(),
            line,
            reason: reason.to_string(),
        }
    }

    /// Reads the last line to find the current head, without reading the
    /// whole log. The full chain is checked by [`verify`].
    fn tail(&self, file: &mut File) -> Result<Head> {
        let len = file
            .seek(SeekFrom::End(0))
            .map_err(|e| Error::io(&self.path, e))?;
        if len == 0 {
            return Ok(Head {
                entries: 0,
                hash: genesis(),
            });
        }
        let want = len.min(MAX_LINE_LEN as u64 + 2);
        file.seek(SeekFrom::Start(len - want))
            .map_err(|e| Error::io(&self.path, e))?;
        let mut buf = vec![0u8; want as usize];
        file.read_exact(&mut buf)
            .map_err(|e| Error::io(&self.path, e))?;
        let Some(body) = buf.strip_suffix(b"\n") else {
            return Err(self.bad(
                0,
                "the last line is torn (no newline): an append was interrupted; run `otaseal audit verify` and repair before appending",
            ));
        };
        let start = match body.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None if want == len => 0,
            None => return Err(self.bad(0, "the last line is longer than 16 KiB")),
        };
        let last = &body[start..];
        let entry: Entry = serde_json::from_slice(last)
            .map_err(|e| self.bad(0, format!("the last line is not an entry: {e}")))?;
        Ok(Head {
            entries: entry.seq,
            hash: line_hash(last),
        })
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for OpenOptions {
    #[cfg(unix)]
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
    #[cfg(not(unix))]
    fn mode_0600(&mut self) -> &mut Self {
        self
    }
}

/// How the chain broke at a line, for [`verify`]'s message.
fn diagnose(
    index: u64,
    entry: &Entry,
    prev_ok: bool,
    prev_is_grandparent: bool,
    repeats_previous: bool,
) -> (u64, String) {
    if repeats_previous {
        return (
            index,
            format!(
                "entry was inserted: line {index} repeats line {}",
                index - 1
            ),
        );
    }
    if prev_ok {
        return (
            index,
            format!(
                "sequence number {} where {index} was expected (entry edited)",
                entry.seq
            ),
        );
    }
    if prev_is_grandparent {
        return (
            index - 1,
            format!(
                "entry was inserted: line {} chains to line {}",
                index,
                index - 2
            ),
        );
    }
    if entry.seq == index {
        return (
            index - 1,
            format!(
                "entry was edited: its hash no longer matches the `prev` recorded in line {index}"
            ),
        );
    }
    if entry.seq > index {
        return (
            index,
            format!(
                "entries are missing or reordered before this line (it is entry {}, expected {index})",
                entry.seq
            ),
        );
    }
    (
        index,
        format!(
            "entry {} appears again or out of order (expected {index})",
            entry.seq
        ),
    )
}

/// One line of a log, read without ever holding more than
/// `MAX_LINE_LEN + 1` bytes of it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A line and its newline (the newline removed).
    Complete(Vec<u8>),
    /// The end of the file came before a newline.
    Torn,
    /// More than `MAX_LINE_LEN` bytes without a newline.
    TooLong,
}

/// Reads the next line of a log; `None` at the end of the file.
pub(crate) fn next_line(r: &mut impl BufRead) -> std::io::Result<Option<Line>> {
    let mut buf = Vec::new();
    // Room for a longest line and its newline, and not one byte more: a
    // file without line breaks (`/dev/zero`) stops here.
    let n = r
        .by_ref()
        .take(MAX_LINE_LEN as u64 + 1)
        .read_until(b'\n', &mut buf)?;
    Ok(match n {
        0 => None,
        _ if buf.ends_with(b"\n") => {
            buf.pop();
            Some(Line::Complete(buf))
        }
        _ if buf.len() > MAX_LINE_LEN => Some(Line::TooLong),
        _ => Some(Line::Torn),
    })
}

/// The bytes of line `n` (1-based) of the log at `path`, read line by line.
pub fn read_line_at(path: &Path, n: u64) -> Result<Vec<u8>> {
    let bad = |reason: &str| Error::AuditLog {
        path: path.to_owned(),
        line: n,
        reason: reason.to_owned(),
    };
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut r = std::io::BufReader::new(file);
    for i in 1..=n {
        match next_line(&mut r).map_err(|e| Error::io(path, e))? {
            Some(Line::Complete(line)) if i == n => return Ok(line),
            Some(Line::Complete(_)) => {}
            Some(Line::Torn) => return Err(bad("torn line (no newline)")),
            Some(Line::TooLong) => return Err(bad("a line is longer than 16 KiB")),
            None => break,
        }
    }
    Err(bad("the log has fewer lines"))
}

/// Reads and verifies a whole log, returning its entries. The first bad line
/// is named in the error: an unparsable, torn or over-long line, or the line
/// where the hash chain or the sequence breaks (see `docs/FORMAT.md` §16.3
/// for how edits, deletions, insertions and reorderings are told apart).
/// The file is read line by line: an over-long line is refused once it
/// passes the limit, without reading the rest of it.
pub fn read_verified(path: &Path) -> Result<(Vec<Entry>, Head)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = std::io::BufReader::new(file);
    let bad = |line: u64, reason: String| Error::AuditLog {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut entries = Vec::new();
    let mut prev_hash = genesis();
    let mut grandparent = genesis();
    let mut previous_line: Vec<u8> = Vec::new();
    let mut index = 0u64;
    while let Some(next) = next_line(&mut reader).map_err(|e| Error::io(path, e))? {
        index += 1;
        let line = match next {
            Line::Complete(line) => line,
            Line::Torn => {
                return Err(bad(
                    index,
                    "torn last line (no newline): an append was interrupted or the file was cut"
                        .into(),
                ));
            }
            Line::TooLong => return Err(bad(index, "line is longer than 16 KiB".into())),
        };
        let entry: Entry = serde_json::from_slice(&line)
            .map_err(|e| bad(index, format!("not a valid entry: {e}")))?;
        let mut recorded = [0u8; 32];
        let prev_ok =
            hex::decode_to_slice(&entry.prev, &mut recorded).is_ok() && recorded == prev_hash;
        if !prev_ok || entry.seq != index {
            let is_grandparent = index >= 2 && recorded == grandparent;
            let (line, reason) = diagnose(
                index,
                &entry,
                prev_ok,
                is_grandparent,
                line == previous_line,
            );
            return Err(bad(line, reason));
        }
        grandparent = prev_hash;
        prev_hash = line_hash(&line);
        previous_line = line;
        entries.push(entry);
    }
    Ok((
        entries,
        Head {
            entries: index,
            hash: prev_hash,
        },
    ))
}

/// Verifies a whole log; see [`read_verified`].
pub fn verify(path: &Path) -> Result<Head> {
    read_verified(path).map(|(_, head)| head)
}

/// A signer that refuses to sign while its key is suspended and records
/// every signature (and the recipients the data key was wrapped to) in the
/// audit log before releasing it. If the log cannot be written, the
/// signature is withheld: key use is never unrecorded.
pub struct AuditedSigner {
    inner: Box<dyn Signer>,
    log: AuditLog,
    recipients: Vec<KeyId>,
}

impl std::fmt::Debug for AuditedSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditedSigner")
            .field("key_id", &self.inner.key_id())
            .field("log", &self.log.path)
            .finish_non_exhaustive()
    }
}

impl AuditedSigner {
    /// Wraps `inner`. Fails at once if the key is already suspended.
    /// `recipients` are the device keys each sealed bundle's data key is
    /// wrapped to; each signature records one `wrap` event per recipient.
    pub fn new(inner: Box<dyn Signer>, log: AuditLog, recipients: Vec<KeyId>) -> Result<Self> {
        Suspensions::load(&log.suspension_path())?.check(&inner.key_id())?;
        Ok(Self {
            inner,
            log,
            recipients,
        })
    }
}

impl Signer for AuditedSigner {
    fn algorithm(&self) -> SigAlg {
        self.inner.algorithm()
    }

    fn key_id(&self) -> KeyId {
        self.inner.key_id()
    }

    fn chain(&self) -> &[Vec<u8>] {
        self.inner.chain()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let key = self.inner.key_id();
        // Re-read on every signature: a suspension takes effect mid-batch.
        Suspensions::load(&self.log.suspension_path())?.check(&key)?;
        let digest = hex::encode(blake3::hash(message).as_bytes());
        for r in &self.recipients {
            self.log.append(
                &Event::ok(Op::Wrap, *r)
                    .detail("message", digest.as_str())
                    .detail("signer", key.to_string()),
            )?;
        }
        match self.inner.sign(message) {
            Ok(sig) => {
                self.log.append(
                    &Event::ok(Op::Sign, key)
                        .detail("message", digest)
                        .detail("chain", self.inner.chain().len()),
                )?;
                Ok(sig)
            }
            Err(e) => {
                self.log.append(
                    &Event::new(Op::Sign, Some(key), Outcome::Failed)
                        .detail("message", digest)
                        .detail("error", e.to_string()),
                )?;
                Err(e)
            }
        }
    }
}

/// The audit log is where key events go: generation, every unlock attempt,
/// certification, rotation, revocation and verification. This is the one
/// place that decides what each event's entry holds. Signatures are
/// recorded by [`AuditedSigner`], which also enforces suspension.
impl crate::keys::events::KeyEventSink for AuditLog {
    fn record(&self, event: &crate::keys::events::KeyEvent<'_>) -> Result<()> {
        self.append(&entry_for(event)).map(|_| ())
    }
}

/// The entry a key event is written as (`docs/FORMAT.md` §16.2).
fn entry_for(event: &crate::keys::events::KeyEvent<'_>) -> Event {
    use crate::keys::events::KeyEvent;
    match *event {
        KeyEvent::Generated {
            key_id,
            alg,
            role,
            backend,
            ..
        } => Event::ok(Op::Generate, key_id)
            .detail("alg", alg.to_string())
            .detail("role", role.to_string())
            .detail("backend", backend.as_str()),
        KeyEvent::UnlockOk { key_id, .. } => Event::ok(Op::Unlock, key_id),
        KeyEvent::UnlockFailed {
            key_id, backend, ..
        } => Event::new(Op::Unlock, Some(key_id), Outcome::Failed)
            .detail("backend", backend.as_str()),
        KeyEvent::Certified {
            issuer,
            certificate: cert,
        } => Event::ok(Op::Certify, issuer)
            .detail("subject", cert.subject_key_id().to_string())
            .detail("serial", cert.serial)
            .detail("channels", cert.channels.to_string())
            .detail("apps", cert.apps.to_string())
            .detail("not_after", cert.not_after),
        KeyEvent::Rotated { key, previous } => {
            let event = Event::ok(Op::Rotate, key);
            match previous {
                Some(p) => event
                    .detail("previous", p.subject_key_id().to_string())
                    .detail("previous_serial", p.serial),
                None => event,
            }
        }
        KeyEvent::RootRotated { from, to, version } => Event::ok(Op::RootRotate, from)
            .detail("new_root", to.to_string())
            .detail("new_version", version),
        KeyEvent::KeyRevoked {
            key,
            root,
            sequence,
        } => Event::ok(Op::Revoke, key)
            .detail("root", root.to_string())
            .detail("list_sequence", sequence),
        KeyEvent::SerialRevoked {
            serial,
            root,
            sequence,
        } => Event::ok(Op::Revoke, root)
            .detail("serial", serial)
            .detail("list_sequence", sequence),
        KeyEvent::Verified {
            signer,
            manifest,
            error,
        } => {
            let outcome = match error {
                Some(_) => Outcome::Failed,
                None => Outcome::Ok,
            };
            let event = Event::new(Op::Verify, signer, outcome)
                .detail("manifest", manifest.display().to_string());
            match error {
                Some(e) => event.detail("error", e),
                None => event,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_log(dir: &Path, n: u64) -> PathBuf {
        let path = dir.join("audit.log");
        let log = AuditLog::new(&path);
        for i in 0..n {
            log.append_at(
                &Event::ok(Op::Sign, KeyId([i as u8; 16])).detail("n", i),
                1_700_000_000 + i,
            )
            .unwrap();
        }
        path
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn put(path: &Path, lines: &[String]) {
        let mut s = lines.join("\n");
        s.push('\n');
        std::fs::write(path, s).unwrap();
    }

    fn bad_line(path: &Path) -> (u64, String) {
        match verify(path) {
            Err(Error::AuditLog { line, reason, .. }) => (line, reason),
            other => panic!("expected a tamper error, got {other:?}"),
        }
    }

    #[test]
    fn append_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 5);
        let head = verify(&path).unwrap();
        assert_eq!(head.entries, 5);
        let (entries, _) = read_verified(&path).unwrap();
        assert_eq!(entries[0].prev, hex::encode(genesis()));
        assert_eq!(entries[4].seq, 5);
        assert_eq!(entries[2].op, "sign");
        assert_eq!(entries[2].key_id(), Some(KeyId([2; 16])));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // Empty and missing logs.
        let empty = dir.path().join("empty.log");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(verify(&empty).unwrap().entries, 0);
        assert!(matches!(
            verify(&dir.path().join("none")),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn edited_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 6);
        let mut l = lines(&path);
        l[2] = l[2].replace("\"n\":2", "\"n\":7");
        put(&path, &l);
        let (line, reason) = bad_line(&path);
        assert_eq!(line, 3, "{reason}");
        assert!(reason.contains("edited"), "{reason}");
    }

    #[test]
    fn deleted_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 6);
        let mut l = lines(&path);
        l.remove(3);
        put(&path, &l);
        let (line, reason) = bad_line(&path);
        assert_eq!(line, 4, "{reason}");
        assert!(reason.contains("missing"), "{reason}");
    }

    #[test]
    fn inserted_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 6);
        let mut l = lines(&path);
        // A forger who knows the format chains a fake entry 4 to line 3.
        let fake = format!(
            r#"{{"seq":4,"ts":1700000003,"op":"sign","key":null,"outcome":"ok","detail":{{}},"prev":"{}"}}"#,
            hex::encode(line_hash(l[2].as_bytes()))
        );
        l.insert(3, fake);
        put(&path, &l);
        let (line, reason) = bad_line(&path);
        assert_eq!(line, 4, "{reason}");
        assert!(reason.contains("inserted"), "{reason}");
    }

    #[test]
    fn reordered_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 6);
        let mut l = lines(&path);
        l.swap(1, 2);
        put(&path, &l);
        let (line, _) = bad_line(&path);
        assert_eq!(line, 2);
    }

    #[test]
    fn torn_line_is_reported_and_blocks_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 3);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(bytes.len() - 10);
        std::fs::write(&path, &bytes).unwrap();
        let (line, reason) = bad_line(&path);
        assert_eq!(line, 3);
        assert!(reason.contains("torn"), "{reason}");
        let err = AuditLog::new(&path)
            .append(&Event::ok(Op::Sign, KeyId([0; 16])))
            .unwrap_err();
        assert!(err.to_string().contains("torn"), "{err}");
    }

    #[test]
    fn garbage_lines_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        for junk in [
            &b"\n"[..],
            b"{}\n",
            b"[1,2]\n",
            b"\xff\xfe\n",
            b"{\"seq\":1}\n",
        ] {
            std::fs::write(&path, junk).unwrap();
            assert_eq!(bad_line(&path).0, 1);
        }
        std::fs::write(&path, vec![b'a'; MAX_LINE_LEN + 10]).unwrap();
        assert!(verify(&path).is_err());
    }

    #[test]
    fn an_over_long_line_is_refused_at_the_limit() {
        // A log whose first line never ends (think /dev/zero): the reader
        // stops one byte past the line limit and names the line, instead of
        // reading the whole file to find its end.
        let dir = tempfile::tempdir().unwrap();
        let path = write_log(dir.path(), 2);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend(std::iter::repeat_n(b'a', 4 << 20));
        std::fs::write(&path, &bytes).unwrap();
        let (line, reason) = bad_line(&path);
        assert_eq!(line, 3);
        assert!(reason.contains("longer than 16 KiB"), "{reason}");
        // A longest line and its newline is one read; a byte more is refused.
        let mut exact = vec![b'x'; MAX_LINE_LEN];
        exact.push(b'\n');
        exact.extend_from_slice(b"y");
        let mut r = &exact[..];
        assert_eq!(
            next_line(&mut r).unwrap(),
            Some(Line::Complete(vec![b'x'; MAX_LINE_LEN]))
        );
        assert_eq!(next_line(&mut r).unwrap(), Some(Line::Torn));
        assert_eq!(next_line(&mut r).unwrap(), None);
        let over = vec![b'x'; MAX_LINE_LEN + 1];
        assert_eq!(next_line(&mut &over[..]).unwrap(), Some(Line::TooLong));
    }

    /// Every key event is written as the entry `docs/FORMAT.md` §16.2
    /// describes: these op names, outcomes and details are what the alert
    /// rules and operators read, so they are pinned here.
    #[test]
    fn key_events_are_written_as_their_entries() {
        use crate::format::cert::{AppScope, CertificateBody, ChannelScope, KeyUsage};
        use crate::keys::events::{KeyBackend, KeyEvent, KeyEventSink};
        use crate::keys::{KeyAlg, KeyRole};
        use rand_core::SeedableRng;
        let issuer =
            crate::keys::SigningKey::generate(&mut rand_chacha::ChaCha20Rng::seed_from_u64(4));
        let cert = crate::keys::trust::issue_certificate(
            &issuer,
            CertificateBody {
                serial: 9,
                subject_alg: SigAlg::Ed25519,
                subject_public_key: vec![7; 32],
                not_before: 1,
                not_after: 100,
                usage: KeyUsage::SIGN_MANIFESTS,
                channels: ChannelScope::Any,
                apps: AppScope::Any,
            },
        )
        .unwrap();
        let (i, k, s) = (issuer.key_id(), KeyId([1; 16]), cert.subject_key_id());
        let path = Path::new("m.manifest");
        let cases: Vec<(
            KeyEvent<'_>,
            &str,
            Option<KeyId>,
            Outcome,
            serde_json::Value,
        )> = vec![
            (
                KeyEvent::Generated {
                    key_id: k,
                    alg: KeyAlg::Ed25519,
                    role: KeyRole::Release,
                    backend: KeyBackend::EncryptedFile,
                    path: None,
                },
                "generate",
                Some(k),
                Outcome::Ok,
                serde_json::json!({"alg": "ed25519", "role": "release", "backend": "encrypted-file"}),
            ),
            (
                KeyEvent::UnlockFailed {
                    key_id: k,
                    path: None,
                    backend: KeyBackend::Pkcs11,
                },
                "unlock",
                Some(k),
                Outcome::Failed,
                serde_json::json!({"backend": "pkcs11"}),
            ),
            (
                KeyEvent::Certified {
                    issuer: i,
                    certificate: &cert,
                },
                "certify",
                Some(i),
                Outcome::Ok,
                serde_json::json!({"subject": s.to_string(), "serial": 9, "channels": "*",
                    "apps": "*", "not_after": 100}),
            ),
            (
                KeyEvent::Rotated {
                    key: k,
                    previous: Some(&cert),
                },
                "rotate",
                Some(k),
                Outcome::Ok,
                serde_json::json!({"previous": s.to_string(), "previous_serial": 9}),
            ),
            (
                KeyEvent::Rotated {
                    key: k,
                    previous: None,
                },
                "rotate",
                Some(k),
                Outcome::Ok,
                serde_json::json!({}),
            ),
            (
                KeyEvent::RootRotated {
                    from: i,
                    to: k,
                    version: 3,
                },
                "root_rotate",
                Some(i),
                Outcome::Ok,
                serde_json::json!({"new_root": k.to_string(), "new_version": 3}),
            ),
            (
                KeyEvent::KeyRevoked {
                    key: k,
                    root: i,
                    sequence: 2,
                },
                "revoke",
                Some(k),
                Outcome::Ok,
                serde_json::json!({"root": i.to_string(), "list_sequence": 2}),
            ),
            (
                KeyEvent::SerialRevoked {
                    serial: 5,
                    root: i,
                    sequence: 2,
                },
                "revoke",
                Some(i),
                Outcome::Ok,
                serde_json::json!({"serial": 5, "list_sequence": 2}),
            ),
            (
                KeyEvent::Verified {
                    signer: Some(k),
                    manifest: path,
                    error: Some("bad signature"),
                },
                "verify",
                Some(k),
                Outcome::Failed,
                serde_json::json!({"manifest": "m.manifest", "error": "bad signature"}),
            ),
            (
                KeyEvent::Verified {
                    signer: None,
                    manifest: path,
                    error: None,
                },
                "verify",
                None,
                Outcome::Ok,
                serde_json::json!({"manifest": "m.manifest"}),
            ),
        ];
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("a.log")).with_clock(Clock::Fixed(1_234));
        for (event, ..) in &cases {
            log.record(event).unwrap();
        }
        let (entries, _) = read_verified(log.path()).unwrap();
        assert_eq!(entries.len(), cases.len());
        for (entry, (event, op, key, outcome, detail)) in entries.iter().zip(&cases) {
            assert_eq!(entry.op, *op, "{event:?}");
            assert_eq!(entry.key_id(), *key, "{event:?}");
            assert_eq!(entry.outcome, *outcome, "{event:?}");
            assert_eq!(
                serde_json::Value::Object(entry.detail.clone()),
                *detail,
                "{event:?}"
            );
            assert_eq!(entry.ts, 1_234);
        }
    }

    #[test]
    fn concurrent_appends_keep_one_chain() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.log");
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let path = path.clone();
                s.spawn(move || {
                    let log = AuditLog::new(path);
                    for _ in 0..25 {
                        log.append(&Event::ok(Op::Sign, KeyId([t; 16]))).unwrap();
                    }
                });
            }
        });
        assert_eq!(verify(&path).unwrap().entries, 100);
    }
}
