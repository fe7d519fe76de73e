//! The root of trust (`docs/FORMAT.md` §10): release-key
//! certificates and their chains, root rotation, revocation, and the
//! verifier's [`TrustState`] (its file and lock are
//! [`crate::device::TrustStateFile`]'s).
//!
//! Devices pin only a root public key. A manifest carries its signer's
//! certificate chain (leaf first); [`RootTrust::verify_signer`] checks it up to
//! the pinned root, then the manifest's signature with the leaf key, then
//! revocation, usage, validity (at the manifest's creation time *and* at the
//! verifier's clock), channel and application, in that order.

use super::{KeyId, SigAlg, Signer, SigningKey, VerifyingKey, sign_document};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::format::cert::{Certificate, CertificateBody, KeyUsage};
use crate::format::manifest::MAX_CHAIN_LEN;
use crate::format::revocation::{RevocationBody, RevocationList};
use crate::format::rotation::{RotationBody, RotationStatement};
use crate::format::trust_state::{MAX_SUPERSEDED, SupersededRoot, TrustStateDoc};
use crate::format::{AppId, Channel, Manifest};
use crate::prelude::*;

/// Verifies `signature` over `message` by the `alg` public key `public_key`.
pub fn verify_signature(
    alg: SigAlg,
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    match alg {
        SigAlg::Ed25519 => ed25519_key(public_key)?.verify(message, signature),
    }
}

fn ed25519_key(public_key: &[u8]) -> Result<VerifyingKey> {
    let bytes: &[u8; 32] = public_key.try_into().map_err(|_| Error::InvalidKey {
        what: "ed25519 public key is not 32 bytes",
    })?;
    VerifyingKey::from_bytes(bytes)
}

/// `issuer` (the root, or an intermediate) signs a certificate saying `body`.
pub fn issue_certificate(issuer: &dyn Signer, body: CertificateBody) -> Result<Certificate> {
    Ok(sign_document(body, issuer)?.0)
}

/// The root signs a revocation list.
pub fn issue_revocation_list(
    root: &dyn Signer,
    sequence: u64,
    issued_at: u64,
    serials: Vec<u64>,
    key_ids: Vec<KeyId>,
) -> Result<RevocationList> {
    let body = RevocationBody::new(sequence, issued_at, serials, key_ids)?;
    Ok(sign_document(body, root)?.0)
}

/// The old root and the new root both sign the statement that the new root
/// becomes version `new_version`.
pub fn sign_rotation(
    old: &SigningKey,
    new: &SigningKey,
    new_version: u64,
    issued_at: u64,
) -> Result<RotationStatement> {
    let mut st = RotationStatement::unsigned(RotationBody::new(
        SigAlg::Ed25519,
        old.verifying_key().to_bytes().to_vec(),
        SigAlg::Ed25519,
        new.verifying_key().to_bytes().to_vec(),
        new_version,
        issued_at,
    )?);
    let bytes = st.signed_bytes();
    st.old_signature = old.sign(&bytes)?;
    st.new_signature = new.sign(&bytes)?;
    Ok(st)
}

/// Parses `bytes` as a revocation list and checks it is signed by `root`.
pub fn verify_revocation_list(bytes: &[u8], root: &VerifyingKey) -> Result<RevocationList> {
    let (list, signed_len) = RevocationList::parse(bytes)?;
    root.verify_document(&list, &bytes[..signed_len])
        .map_err(|e| match e {
            Error::UntrustedSigner { found, expected } => Error::UntrustedRoot {
                what: "revocation list",
                issuer: found,
                pinned: expected,
            },
            Error::BadSignature => Error::BadRevocationSignature {
                sequence: list.sequence,
            },
            other => other,
        })?;
    Ok(list)
}

/// What applying a rotation statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationOutcome {
    /// The pinned root moved from `from` to `to`, now at `version`.
    Rotated {
        from: KeyId,
        to: KeyId,
        version: u64,
    },
    /// The statement was applied before (or leads to the pinned root).
    AlreadyApplied,
}

/// What applying a revocation list did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationOutcome {
    /// The list replaced an older one (or was the first).
    Accepted { sequence: u64 },
    /// The same list was already the newest.
    AlreadyCurrent,
}

/// What a verifier trusts: one pinned root (with its version), the roots it
/// superseded, and the newest revocation list it accepted. Kept in a
/// [`crate::device::TrustStateFile`] so rotation and revocation survive
/// restarts.
#[derive(Debug, Clone)]
pub struct TrustState {
    root: VerifyingKey,
    version: u64,
    superseded: Vec<SupersededRoot>,
    revocations: Option<(RevocationList, Vec<u8>)>,
}

impl TrustState {
    /// A fresh state pinning `root` as version 1.
    pub fn new(root: VerifyingKey) -> Self {
        Self::with_version(root, 1)
    }

    /// A fresh state pinning `root` as `version` (a device provisioned after
    /// some rotations). Versions start at 1.
    pub fn with_version(root: VerifyingKey, version: u64) -> Self {
        Self {
            root,
            version: version.max(1),
            superseded: Vec::new(),
            revocations: None,
        }
    }

    pub fn root(&self) -> &VerifyingKey {
        &self.root
    }

    pub fn root_version(&self) -> u64 {
        self.version
    }

    /// Roots this state has moved past, oldest first.
    pub fn superseded(&self) -> &[SupersededRoot] {
        &self.superseded
    }

    pub fn revocations(&self) -> Option<&RevocationList> {
        self.revocations.as_ref().map(|(l, _)| l)
    }

    /// The sequence of the newest accepted revocation list, 0 if none.
    pub fn revocation_sequence(&self) -> u64 {
        self.revocations().map_or(0, |l| l.sequence)
    }

    /// Whether `key_id` is the pinned root or one it superseded.
    pub fn knows_root(&self, key_id: &KeyId) -> bool {
        self.root.key_id() == *key_id || self.superseded.iter().any(|s| s.key_id == *key_id)
    }

    /// Applies a root rotation statement (FORMAT.md §10.4.3). The pinned root moves
    /// only when the statement starts at the pinned root, names a higher
    /// version, and carries valid signatures by *both* roots. A root this
    /// state has superseded can never introduce a second successor.
    pub fn apply_rotation(&mut self, bytes: &[u8]) -> Result<RotationOutcome> {
        let (st, signed_len) = RotationStatement::parse(bytes)?;
        let signed = &bytes[..signed_len];
        let (old_id, new_id) = (st.old_key_id(), st.new_key_id());
        let pinned = self.root.key_id();
        if old_id != pinned {
            if let Some(s) = self.superseded.iter().find(|s| s.key_id == old_id) {
                return if s.successor == new_id {
                    Ok(RotationOutcome::AlreadyApplied)
                } else {
                    Err(Error::RootSuperseded {
                        old: old_id,
                        successor: s.successor,
                        attempted: new_id,
                    })
                };
            }
            if new_id == pinned {
                return Ok(RotationOutcome::AlreadyApplied);
            }
            return Err(Error::UntrustedRoot {
                what: "root rotation statement",
                issuer: old_id,
                pinned,
            });
        }
        if st.old_alg != SigAlg::Ed25519 || st.new_alg != SigAlg::Ed25519 {
            return Err(Error::RotationNotApplicable {
                reason: "roots must be ed25519 keys".into(),
            });
        }
        // Versions only ever grow. A state pinned from a bare root key starts
        // at version 1 even if that root is a later one, so a statement may
        // skip versions; it may never go back or stand still.
        if st.new_version <= self.version {
            return Err(Error::RotationNotApplicable {
                reason: format!(
                    "it makes the new root version {}, but the pinned root is already version {}",
                    st.new_version, self.version
                ),
            });
        }
        if self.superseded.iter().any(|s| s.key_id == new_id) {
            return Err(Error::RotationNotApplicable {
                reason: format!("the new root {new_id} was superseded before"),
            });
        }
        if self.superseded.len() >= MAX_SUPERSEDED {
            return Err(Error::RotationNotApplicable {
                reason: format!("more than {MAX_SUPERSEDED} rotations"),
            });
        }
        self.root
            .verify(signed, &st.old_signature)
            .map_err(|_| Error::BadRotationSignature {
                which: "old",
                key_id: old_id,
            })?;
        let new_root = ed25519_key(&st.new_public_key)?;
        new_root
            .verify(signed, &st.new_signature)
            .map_err(|_| Error::BadRotationSignature {
                which: "new",
                key_id: new_id,
            })?;
        self.superseded.push(SupersededRoot {
            version: self.version,
            key_id: old_id,
            successor: new_id,
        });
        self.root = new_root;
        self.version = st.new_version;
        Ok(RotationOutcome::Rotated {
            from: old_id,
            to: new_id,
            version: self.version,
        })
    }

    /// Applies a revocation list signed by the pinned root (FORMAT.md §10.3.3). A list
    /// with a lower sequence than the newest accepted one is a replay and is
    /// refused; the same sequence is accepted only byte for byte.
    pub fn apply_revocation_list(&mut self, bytes: &[u8]) -> Result<RevocationOutcome> {
        let list = verify_revocation_list(bytes, &self.root)?;
        if let Some((current, current_bytes)) = &self.revocations {
            if list.sequence < current.sequence {
                return Err(Error::RevocationReplay {
                    found: list.sequence,
                    current: current.sequence,
                });
            }
            if list.sequence == current.sequence {
                return if current_bytes.as_slice() == bytes {
                    Ok(RevocationOutcome::AlreadyCurrent)
                } else {
                    Err(Error::RevocationConflict {
                        sequence: list.sequence,
                    })
                };
            }
        }
        let sequence = list.sequence;
        self.revocations = Some((list, bytes.to_vec()));
        Ok(RevocationOutcome::Accepted { sequence })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        TrustStateDoc {
            root_version: self.version,
            root_alg: SigAlg::Ed25519,
            root_public_key: self.root.to_bytes().to_vec(),
            superseded: self.superseded.clone(),
            revocations: self.revocations.as_ref().map(|(_, b)| b.clone()),
        }
        .to_bytes()
    }

    /// Decodes a state. The embedded revocation list was verified when it was
    /// accepted (possibly under a root since superseded); the checksum
    /// guards it against corruption, so it is decoded, not re-verified.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let doc = TrustStateDoc::parse(bytes)?;
        let root = match doc.root_alg {
            SigAlg::Ed25519 => ed25519_key(&doc.root_public_key)?,
        };
        let revocations = match doc.revocations {
            Some(b) => Some((RevocationList::parse(&b)?.0, b)),
            None => None,
        };
        Ok(Self {
            root,
            version: doc.root_version,
            superseded: doc.superseded,
            revocations,
        })
    }
}

/// A pinned-root verifier: the trust state plus the clock to check validity
/// against. Used through `open::TrustAnchor::Root`.
#[derive(Debug, Clone)]
pub struct RootTrust {
    pub state: TrustState,
    pub clock: Clock,
}

/// A chain that verified: the leaf certificate first.
#[derive(Debug, Clone)]
pub struct VerifiedChain {
    pub certificates: Vec<Certificate>,
}

impl VerifiedChain {
    pub fn leaf(&self) -> &Certificate {
        &self.certificates[0]
    }
}

impl RootTrust {
    /// Trusts `state` at the system clock ([`with_clock`](Self::with_clock)
    /// sets another; without `std`, [`at`](Self::at) is the constructor).
    #[cfg(feature = "std")]
    pub fn new(state: TrustState) -> Self {
        Self {
            state,
            clock: Clock::System,
        }
    }

    /// Trusts `state` with the verifier's time read from `clock`.
    pub fn at(state: TrustState, clock: Clock) -> Self {
        Self { state, clock }
    }

    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Verifies `manifest`'s chain and signature (`signed` is the manifest's
    /// signed prefix). Order (FORMAT.md §10.6): decode and link the chain; the top
    /// certificate's issuer is the pinned root; issuer signatures top-down;
    /// the manifest signature by the leaf key; then revocation, usage,
    /// validity at the manifest's `created` and at the verifier's clock, the
    /// channel and the application, for every certificate.
    pub fn verify_signer(&self, manifest: &Manifest, signed: &[u8]) -> Result<VerifiedChain> {
        let raw = &manifest.signer.chain;
        if raw.is_empty() {
            return Err(Error::MissingChain);
        }
        let certs = parse_chain(raw)?;
        let leaf = &certs[0];
        if leaf.subject_key_id() != manifest.signer.key_id
            || leaf.subject_alg != manifest.signer.alg
        {
            return Err(Error::ChainBroken {
                position: 0,
                reason: format!(
                    "the leaf certifies key {}, but the manifest is signed by {}",
                    leaf.subject_key_id(),
                    manifest.signer.key_id
                ),
            });
        }
        let root = self.state.root();
        let top = certs.last().expect("chain is not empty");
        if top.signer.key_id != root.key_id() || top.signer.alg != SigAlg::Ed25519 {
            return Err(Error::UntrustedRoot {
                what: "certificate chain",
                issuer: top.signer.key_id,
                pinned: root.key_id(),
            });
        }
        for position in (0..certs.len()).rev() {
            let cert = &certs[position];
            // What the issuer signed, exactly as received: the certificate's
            // bytes less the `bytes16` signature that ends them.
            let encoded = &raw[position];
            let tbs = &encoded[..encoded.len() - 2 - cert.signature.len()];
            let ok = match certs.get(position + 1) {
                None => root.verify(tbs, &cert.signature).is_ok(),
                Some(issuer) => {
                    if !issuer.usage.contains(KeyUsage::ISSUE_CERTIFICATES) {
                        return Err(Error::UsageNotAllowed {
                            serial: issuer.serial,
                            needed: "issue-certificates",
                            allowed: issuer.usage.to_string(),
                        });
                    }
                    verify_signature(
                        issuer.subject_alg,
                        &issuer.subject_public_key,
                        tbs,
                        &cert.signature,
                    )
                    .is_ok()
                }
            };
            if !ok {
                return Err(Error::BadChainSignature {
                    serial: cert.serial,
                    position,
                });
            }
        }
        verify_signature(
            leaf.subject_alg,
            &leaf.subject_public_key,
            signed,
            &manifest.signature,
        )?;

        if let Some(list) = self.state.revocations() {
            for cert in &certs {
                let by = if list.revokes_key(&cert.subject_key_id()) {
                    "key id"
                } else if list.revokes_serial(cert.serial) {
                    "serial"
                } else {
                    continue;
                };
                return Err(Error::KeyRevoked {
                    key_id: cert.subject_key_id(),
                    serial: cert.serial,
                    list_sequence: list.sequence,
                    by,
                });
            }
        }
        check_chain_terms(
            &certs,
            &manifest.app_id,
            &manifest.channel,
            &[
                ("the manifest's creation time", manifest.created),
                ("the verifier's clock", self.clock.now()),
            ],
        )?;
        Ok(VerifiedChain {
            certificates: certs,
        })
    }
}

/// The terms every certificate of a chain (leaf first) must allow a manifest
/// (FORMAT.md §10.6 steps 7–10): the leaf has the `sign-manifests` usage;
/// then, certificate by certificate, each time in `times` (a label and Unix
/// seconds) is within its validity window, and it allows `channel` and
/// `app`. Devices check a chain with this after its signatures verified;
/// `seal` checks its own chain with it before signing anything
/// ([`CertifiedSigner::check_terms`]), so it never produces a bundle every
/// device would refuse.
pub fn check_chain_terms(
    certs: &[Certificate],
    app: &AppId,
    channel: &Channel,
    times: &[(&'static str, u64)],
) -> Result<()> {
    let Some(leaf) = certs.first() else {
        return Err(Error::MissingChain);
    };
    if !leaf.usage.contains(KeyUsage::SIGN_MANIFESTS) {
        return Err(Error::UsageNotAllowed {
            serial: leaf.serial,
            needed: "sign-manifests",
            allowed: leaf.usage.to_string(),
        });
    }
    for cert in certs {
        for &(clock, at) in times {
            if at < cert.not_before {
                return Err(Error::CertNotYetValid {
                    serial: cert.serial,
                    not_before: cert.not_before,
                    clock,
                    at,
                });
            }
            if at > cert.not_after {
                return Err(Error::CertExpired {
                    serial: cert.serial,
                    not_after: cert.not_after,
                    clock,
                    at,
                });
            }
        }
        if !cert.channels.allows(channel) {
            return Err(Error::CertWrongChannel {
                serial: cert.serial,
                channel: channel.to_string(),
                allowed: cert.channels.to_string(),
            });
        }
        if !cert.apps.allows(app) {
            return Err(Error::CertWrongApp {
                serial: cert.serial,
                app: app.to_string(),
                allowed: cert.apps.to_string(),
            });
        }
    }
    Ok(())
}

/// Decodes a chain (leaf first) and checks that it links up: each
/// certificate's issuer is the next certificate's subject.
pub fn parse_chain(raw: &[Vec<u8>]) -> Result<Vec<Certificate>> {
    if raw.len() > MAX_CHAIN_LEN {
        return Err(Error::ChainBroken {
            position: MAX_CHAIN_LEN,
            reason: format!("more than {MAX_CHAIN_LEN} certificates"),
        });
    }
    let certs = raw
        .iter()
        .enumerate()
        .map(|(position, bytes)| {
            Certificate::parse(bytes)
                .map(|(c, _)| c)
                .map_err(|source| Error::MalformedCertificate { position, source })
        })
        .collect::<Result<Vec<_>>>()?;
    for (position, pair) in certs.windows(2).enumerate() {
        if pair[0].signer.key_id != pair[1].subject_key_id()
            || pair[0].signer.alg != pair[1].subject_alg
        {
            return Err(Error::ChainBroken {
                position,
                reason: format!(
                    "issued by {}, but the next certificate is for {}",
                    pair[0].signer.key_id,
                    pair[1].subject_key_id()
                ),
            });
        }
    }
    Ok(certs)
}

/// A signer that embeds its certificate chain in every manifest it signs.
pub struct CertifiedSigner {
    inner: Box<dyn Signer>,
    chain: Vec<Vec<u8>>,
    certs: Vec<Certificate>,
}

impl core::fmt::Debug for CertifiedSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CertifiedSigner")
            .field("key_id", &self.inner.key_id())
            .field("chain_len", &self.chain.len())
            .finish()
    }
}

impl CertifiedSigner {
    /// Wraps `inner` with `chain` (encoded certificates, leaf first). Fails
    /// unless the chain decodes, links up and its leaf certifies `inner`'s key.
    pub fn new(inner: Box<dyn Signer>, chain: Vec<Vec<u8>>) -> Result<Self> {
        if chain.is_empty() {
            return Err(Error::MissingChain);
        }
        let certs = parse_chain(&chain)?;
        if certs[0].subject_key_id() != inner.key_id() || certs[0].subject_alg != inner.algorithm()
        {
            return Err(Error::ChainBroken {
                position: 0,
                reason: format!(
                    "the leaf certifies key {}, not the signing key {}",
                    certs[0].subject_key_id(),
                    inner.key_id()
                ),
            });
        }
        Ok(Self {
            inner,
            chain,
            certs,
        })
    }

    /// Refuses to seal what every device would reject: checks the chain's
    /// terms (the leaf's `sign-manifests` usage, validity at `created`, the
    /// channel and the application) with the devices' own
    /// [`check_chain_terms`]. Signatures and revocation need the root and
    /// the current list, which the sealer may not hold; devices check those.
    pub fn check_terms(&self, app: &AppId, channel: &Channel, created: u64) -> Result<()> {
        check_chain_terms(
            &self.certs,
            app,
            channel,
            &[("the manifest's creation time", created)],
        )
    }
}

impl Signer for CertifiedSigner {
    fn algorithm(&self) -> SigAlg {
        self.inner.algorithm()
    }

    fn key_id(&self) -> KeyId {
        self.inner.key_id()
    }

    fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.inner.sign(message)
    }
}
