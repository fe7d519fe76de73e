//! Signing with a key held in a PKCS#11 token (an HSM, a smart card,
//! SoftHSM2), named by an RFC 7512 `pkcs11:` URI.
//!
//! The private key never leaves the token: otaseal sends the bytes to sign
//! (`CKM_EDDSA`, pure Ed25519) and reads only the public key. Every signature
//! the token returns is verified under that public key before it is used,
//! so a token that signs with another key, or faults, cannot produce a
//! manifest that devices would reject.
//!
//! Supported URI attributes (RFC 7512 §2.3): path `token`, `manufacturer`,
//! `serial`, `model`, `slot-id`, `object`, `id`, `type` (only `private`);
//! query `module-path`, `pin-value`, `pin-source` (a `file:` URI or an
//! absolute path). Any other attribute is refused rather than ignored, so a
//! URI never silently selects a different key than its author meant.

use super::events::{KeyBackend, KeyEvent, KeyEventSink, report};
use super::keystore::Passphrase;
use super::{KeyId, SigAlg, Signer, VerifyingKey};
use crate::error::{Error, Result};
use crate::format::keystore::{KeyAlg, KeyRole};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::RawAuthPin;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

/// `CKA_EC_PARAMS` for Ed25519 as SoftHSM2 and PKCS#11 3.0 accept it: the
/// PrintableString "edwards25519".
const ED25519_PARAMS_NAME: &[u8] = b"\x13\x0cedwards25519";
/// `CKA_EC_PARAMS` for Ed25519 as the OID 1.3.101.112 (RFC 8410).
const ED25519_PARAMS_OID: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];

/// A parsed `pkcs11:` URI. `Debug` never shows the PIN.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub token: Option<String>,
    pub manufacturer: Option<String>,
    pub serial: Option<String>,
    pub model: Option<String>,
    pub slot_id: Option<u64>,
    /// `CKA_LABEL` of the key objects.
    pub object: Option<String>,
    /// `CKA_ID` of the key objects.
    pub id: Option<Vec<u8>>,
    pub module_path: Option<PathBuf>,
    pin_value: Option<Zeroizing<Vec<u8>>>,
    pub pin_source: Option<PathBuf>,
}

impl std::fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Uri({})", self.redacted())
    }
}

impl Pkcs11Uri {
    pub const SCHEME: &'static str = "pkcs11:";

    /// Parses an RFC 7512 URI. Rejects unknown or repeated attributes,
    /// malformed percent-encoding, and both `pin-value` and `pin-source`.
    pub fn parse(uri: &str) -> Result<Self> {
        let bad = |m: String| Error::Pkcs11Uri(m);
        let rest = uri
            .strip_prefix(Self::SCHEME)
            .ok_or_else(|| bad(format!("does not start with `{}`", Self::SCHEME)))?;
        let (path, query) = match rest.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (rest, None),
        };
        let mut u = Self::default();
        let mut seen = std::collections::HashSet::new();
        let attrs = path
            .split(';')
            .map(|a| (a, true))
            .chain(
                query
                    .into_iter()
                    .flat_map(|q| q.split('&'))
                    .map(|a| (a, false)),
            )
            .filter(|(a, _)| !a.is_empty());
        for (attr, in_path) in attrs {
            let (name, value) = attr
                .split_once('=')
                .ok_or_else(|| bad(format!("attribute `{attr}` has no `=`")))?;
            if !seen.insert(name) {
                return Err(bad(format!("attribute `{name}` appears twice")));
            }
            let raw = Zeroizing::new(pct_decode(value)?);
            let text = || {
                String::from_utf8(raw.to_vec())
                    .map_err(|_| bad(format!("`{name}` is not UTF-8 text")))
            };
            match (in_path, name) {
                (true, "token") => u.token = Some(text()?),
                (true, "manufacturer") => u.manufacturer = Some(text()?),
                (true, "serial") => u.serial = Some(text()?),
                (true, "model") => u.model = Some(text()?),
                (true, "slot-id") => {
                    u.slot_id = Some(
                        text()?
                            .parse()
                            .map_err(|_| bad("`slot-id` is not a decimal number".into()))?,
                    )
                }
                (true, "object") => u.object = Some(text()?),
                (true, "id") => u.id = Some(raw.to_vec()),
                (true, "type") if raw.as_slice() == b"private" => {}
                (true, "type") => {
                    return Err(bad(
                        "`type` must be `private`: otaseal signs with a private key".into(),
                    ));
                }
                (false, "module-path") => u.module_path = Some(PathBuf::from(text()?)),
                (false, "pin-value") => u.pin_value = Some(raw.clone()),
                (false, "pin-source") => {
                    let t = text()?;
                    let p = t.strip_prefix("file:").unwrap_or(&t);
                    let p = p.strip_prefix("//").unwrap_or(p);
                    if !p.starts_with('/') {
                        return Err(bad(
                            "`pin-source` must be an absolute path or file: URI".into()
                        ));
                    }
                    u.pin_source = Some(PathBuf::from(p));
                }
                (true, other) | (false, other) => {
                    return Err(bad(format!("unsupported attribute `{other}`")));
                }
            }
        }
        if u.pin_value.is_some() && u.pin_source.is_some() {
            return Err(bad("both `pin-value` and `pin-source` given".into()));
        }
        if u.object.is_none() && u.id.is_none() {
            return Err(bad("name the key with `object=` or `id=`".into()));
        }
        Ok(u)
    }

    /// Whether the URI itself says where the PIN is.
    pub fn has_pin(&self) -> bool {
        self.pin_value.is_some() || self.pin_source.is_some()
    }

    /// The URI without `pin-value`, fit for logs and messages.
    pub fn redacted(&self) -> String {
        let mut path = Vec::new();
        let mut push = |k: &str, v: Option<&[u8]>| {
            if let Some(v) = v {
                path.push(format!("{k}={}", pct_encode(v)));
            }
        };
        push("token", self.token.as_deref().map(str::as_bytes));
        push(
            "manufacturer",
            self.manufacturer.as_deref().map(str::as_bytes),
        );
        push("serial", self.serial.as_deref().map(str::as_bytes));
        push("model", self.model.as_deref().map(str::as_bytes));
        let slot = self.slot_id.map(|s| s.to_string());
        push("slot-id", slot.as_deref().map(str::as_bytes));
        push("object", self.object.as_deref().map(str::as_bytes));
        push("id", self.id.as_deref());
        let mut s = format!("{}{}", Self::SCHEME, path.join(";"));
        let mut query = Vec::new();
        if let Some(m) = &self.module_path {
            query.push(format!(
                "module-path={}",
                pct_encode(m.to_string_lossy().as_bytes())
            ));
        }
        if let Some(p) = &self.pin_source {
            query.push(format!(
                "pin-source={}",
                pct_encode(p.to_string_lossy().as_bytes())
            ));
        }
        if self.pin_value.is_some() {
            query.push("pin-value=<redacted>".into());
        }
        if !query.is_empty() {
            s.push('?');
            s.push_str(&query.join("&"));
        }
        s
    }

    /// The PIN named by the URI, if any.
    fn pin(&self) -> Result<Option<Passphrase>> {
        if let Some(v) = &self.pin_value {
            return Ok(Some(Passphrase::from_bytes(v.clone())));
        }
        self.pin_source
            .as_deref()
            .map(Passphrase::from_file)
            .transpose()
    }
}

fn pct_decode(s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::Pkcs11Uri(format!("bad percent-encoding in `{s}`")))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn pct_encode(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() || b"-._~/".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

fn ck(what: &'static str) -> impl Fn(CkError) -> Error {
    move |e| Error::Pkcs11 {
        what,
        detail: e.to_string(),
    }
}

/// Loads and initialises the module, finds the token the URI names, and
/// opens a session on it.
fn open_session(uri: &Pkcs11Uri, module: Option<&Path>, rw: bool) -> Result<(Session, String)> {
    let module = uri
        .module_path
        .as_deref()
        .or(module)
        .ok_or_else(|| {
            Error::Pkcs11Uri(
                "no PKCS#11 module: add `?module-path=/path/to/module.so` (or set OTASEAL_PKCS11_MODULE)"
                    .into(),
            )
        })?;
    let ctx = Pkcs11::new(module).map_err(|e| Error::Pkcs11 {
        what: "cannot load module",
        detail: format!("{}: {e}", module.display()),
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(ck("C_Initialize")(e)),
    }
    let mut found: Vec<(Slot, String)> = Vec::new();
    for slot in ctx.get_slots_with_token().map_err(ck("C_GetSlotList"))? {
        if uri.slot_id.is_some_and(|id| id != slot.id()) {
            continue;
        }
        let info = ctx.get_token_info(slot).map_err(ck("C_GetTokenInfo"))?;
        let matches = |want: &Option<String>, have: &str| {
            want.as_deref().is_none_or(|w| w == have.trim_end())
        };
        if matches(&uri.token, info.label())
            && matches(&uri.manufacturer, info.manufacturer_id())
            && matches(&uri.serial, info.serial_number())
            && matches(&uri.model, info.model())
        {
            found.push((slot, info.label().trim_end().to_owned()));
        }
    }
    let (slot, label) = match found.len() {
        1 => found.pop().expect("one"),
        0 => {
            return Err(Error::Pkcs11 {
                what: "no token matches",
                detail: uri.redacted(),
            });
        }
        n => {
            return Err(Error::Pkcs11 {
                what: "ambiguous URI",
                detail: format!("{n} tokens match {}", uri.redacted()),
            });
        }
    };
    let session = if rw {
        ctx.open_rw_session(slot)
    } else {
        ctx.open_ro_session(slot)
    }
    .map_err(ck("C_OpenSession"))?;
    Ok((session, label))
}

fn login(session: &Session, token: &str, pin: &Passphrase) -> Result<()> {
    let raw = RawAuthPin::new(Box::new(pin.expose().to_vec()));
    match session.login_with_raw(UserType::User, &raw) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => Err(Error::Pkcs11PinIncorrect {
            token: token.to_owned(),
        }),
        Err(e) => Err(ck("C_Login")(e)),
    }
}

fn key_template(uri: &Pkcs11Uri, class: ObjectClass) -> Vec<Attribute> {
    let mut t = vec![Attribute::Class(class)];
    if let Some(label) = &uri.object {
        t.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = &uri.id {
        t.push(Attribute::Id(id.clone()));
    }
    t
}

fn find_one(session: &Session, uri: &Pkcs11Uri, class: ObjectClass) -> Result<ObjectHandle> {
    let mut found = session
        .find_objects(&key_template(uri, class))
        .map_err(ck("C_FindObjects"))?;
    let what = if class == ObjectClass::PUBLIC_KEY {
        "public key"
    } else {
        "private key"
    };
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Err(Error::Pkcs11 {
            what: "key not found",
            detail: format!("no {what} matches {}", uri.redacted()),
        }),
        n => Err(Error::Pkcs11 {
            what: "ambiguous URI",
            detail: format!("{n} {what}s match {}", uri.redacted()),
        }),
    }
}

/// Reads an Ed25519 public key object: checks the key type and curve, and
/// takes the point from `CKA_EC_POINT` (a DER OCTET STRING, or raw bytes).
fn read_public_key(session: &Session, handle: ObjectHandle) -> Result<VerifyingKey> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
            ],
        )
        .map_err(ck("C_GetAttributeValue"))?;
    let unsupported = |detail: String| Error::Pkcs11 {
        what: "unsupported key",
        detail,
    };
    let (mut key_type, mut params, mut point) = (None, None, None);
    for a in attrs {
        match a {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    if key_type != Some(KeyType::EC_EDWARDS) {
        return Err(unsupported(format!(
            "key type {key_type:?}; otaseal signs with Ed25519 (CKK_EC_EDWARDS) keys"
        )));
    }
    let params = params.unwrap_or_default();
    if params != ED25519_PARAMS_NAME && params != ED25519_PARAMS_OID {
        return Err(unsupported("an Edwards curve other than Ed25519".into()));
    }
    let point = point.unwrap_or_default();
    let raw: &[u8] = match point.as_slice() {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => rest,
        p if p.len() == 32 => p,
        _ => {
            return Err(unsupported(
                "CKA_EC_POINT is not a 32-byte Ed25519 point".into(),
            ));
        }
    };
    VerifyingKey::from_bytes(raw.try_into().expect("32 bytes"))
}

/// Where to find the module and the PIN when the URI does not say.
#[derive(Debug, Default)]
pub struct Pkcs11Options {
    /// Module to load if the URI has no `module-path`.
    pub module: Option<PathBuf>,
    /// PIN to use if the URI has neither `pin-value` nor `pin-source`.
    pub pin: Option<Passphrase>,
}

impl Pkcs11Options {
    fn pin_for(&self, uri: &Pkcs11Uri) -> Result<Passphrase> {
        match uri.pin()? {
            Some(p) => Ok(p),
            None => self
                .pin
                .as_ref()
                .map(|p| Passphrase::from_bytes(Zeroizing::new(p.expose().to_vec())))
                .ok_or_else(|| {
                    Error::Pkcs11Uri(
                        "no PIN: add `?pin-source=/path` to the URI or set OTASEAL_PKCS11_PIN"
                            .into(),
                    )
                }),
        }
    }
}

/// A manifest signer whose Ed25519 key lives in a PKCS#11 token.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: VerifyingKey,
    protected: bool,
    uri: String,
}

impl Pkcs11Signer {
    /// Opens the token the URI names, logs in, and finds the key pair (a
    /// private key and the public key with the same label and id).
    pub fn open(
        uri: &Pkcs11Uri,
        opts: &Pkcs11Options,
        events: Option<&dyn KeyEventSink>,
    ) -> Result<Self> {
        let (session, token) = open_session(uri, opts.module.as_deref(), false)?;
        // Public objects are readable before login, so a failed login can
        // still name the key it was for.
        let public = read_public_key(&session, find_one(&session, uri, ObjectClass::PUBLIC_KEY)?)?;
        let pin = opts.pin_for(uri)?;
        if let Err(e) = login(&session, &token, &pin) {
            if matches!(e, Error::Pkcs11PinIncorrect { .. }) {
                // The PIN error is what the caller must hear about.
                let _ = report(
                    events,
                    KeyEvent::UnlockFailed {
                        key_id: public.key_id(),
                        path: None,
                        backend: KeyBackend::Pkcs11,
                    },
                );
            }
            return Err(e);
        }
        let key = find_one(&session, uri, ObjectClass::PRIVATE_KEY)?;
        let protected = session
            .get_attributes(key, &[AttributeType::Sensitive, AttributeType::Extractable])
            .map_err(ck("C_GetAttributeValue"))?
            .iter()
            .fold(true, |ok, a| match a {
                Attribute::Sensitive(s) => ok && *s,
                Attribute::Extractable(e) => ok && !*e,
                _ => ok,
            });
        report(
            events,
            KeyEvent::UnlockOk {
                key_id: public.key_id(),
                path: None,
            },
        )?;
        Ok(Self {
            session: Mutex::new(session),
            key,
            public,
            protected,
            uri: uri.redacted(),
        })
    }

    /// Generates an Ed25519 key pair inside the token: the private key is
    /// sensitive and not extractable, so it can never be read out. Refuses
    /// if a key with the URI's label or id already exists.
    pub fn generate(
        uri: &Pkcs11Uri,
        opts: &Pkcs11Options,
        role: KeyRole,
        events: Option<&dyn KeyEventSink>,
    ) -> Result<Self> {
        if !role.allows(KeyAlg::Ed25519) {
            return Err(Error::InvalidRequest(format!(
                "a PKCS#11 key signs; it cannot be a {role} key"
            )));
        }
        {
            let (session, token) = open_session(uri, opts.module.as_deref(), true)?;
            login(&session, &token, &opts.pin_for(uri)?)?;
            for class in [ObjectClass::PUBLIC_KEY, ObjectClass::PRIVATE_KEY] {
                let existing = session
                    .find_objects(&key_template(uri, class))
                    .map_err(ck("C_FindObjects"))?;
                if !existing.is_empty() {
                    return Err(Error::InvalidRequest(format!(
                        "the token already holds a key matching {}",
                        uri.redacted()
                    )));
                }
            }
            let mut public = key_template(uri, ObjectClass::PUBLIC_KEY);
            public.extend([
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Verify(true),
                Attribute::Encrypt(false),
                Attribute::Wrap(false),
                Attribute::EcParams(ED25519_PARAMS_NAME.to_vec()),
            ]);
            let mut private = key_template(uri, ObjectClass::PRIVATE_KEY);
            private.extend([
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Sign(true),
                Attribute::Decrypt(false),
                Attribute::Unwrap(false),
                Attribute::Derive(false),
            ]);
            // The templates carry CKA_CLASS already; C_GenerateKeyPair sets it.
            public.remove(0);
            private.remove(0);
            session
                .generate_key_pair(&Mechanism::EccEdwardsKeyPairGen, &public, &private)
                .map_err(ck("C_GenerateKeyPair"))?;
        }
        let signer = Self::open(uri, opts, None)?;
        report(
            events,
            KeyEvent::Generated {
                key_id: signer.key_id(),
                alg: KeyAlg::Ed25519,
                role,
                backend: KeyBackend::Pkcs11,
                path: None,
            },
        )?;
        Ok(signer)
    }

    /// The public key, read from the token.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.public
    }

    /// Whether the token marks the private key sensitive and not
    /// extractable, so that it can never be read out of the token.
    pub fn private_key_is_protected(&self) -> bool {
        self.protected
    }

    /// The URI without its PIN.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> SigAlg {
        SigAlg::Ed25519
    }

    fn key_id(&self) -> KeyId {
        self.public.key_id()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let signature = {
            let session = self
                .session
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            session
                .sign(&mechanism, self.key, message)
                .map_err(ck("C_Sign"))?
        };
        self.public
            .verify(message, &signature)
            .map_err(|_| Error::Pkcs11 {
                what: "C_Sign",
                detail: "the token's signature does not verify under its public key".into(),
            })?;
        Ok(signature)
    }
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pkcs11Signer({}, {})", self.key_id(), self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc7512_examples_and_ours() {
        let u = Pkcs11Uri::parse(
            "pkcs11:token=otaseal%20ci;object=release-1;id=%01%a2;type=private\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(u.token.as_deref(), Some("otaseal ci"));
        assert_eq!(u.object.as_deref(), Some("release-1"));
        assert_eq!(u.id.as_deref(), Some(&[0x01, 0xa2][..]));
        assert_eq!(u.pin_source.as_deref(), Some(Path::new("/run/pin")));
        assert_eq!(
            u.module_path.as_deref(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert!(u.has_pin());
        // The redacted form parses back to the same URI.
        assert_eq!(Pkcs11Uri::parse(&u.redacted()).unwrap(), u);

        let p = Pkcs11Uri::parse("pkcs11:object=k?pin-value=1234").unwrap();
        assert_eq!(p.pin().unwrap().unwrap().expose(), b"1234");
        assert!(!format!("{p:?}").contains("1234"));
        assert!(p.redacted().contains("pin-value=<redacted>"));
    }

    #[test]
    fn rejects_what_it_cannot_honour() {
        for bad in [
            "pkcs12:object=k",
            "pkcs11:token=a",                            // no key named
            "pkcs11:object=k;object=j",                  // repeated
            "pkcs11:object=k;library-version=1",         // unsupported
            "pkcs11:object=k;type=cert",                 // not a private key
            "pkcs11:object=%zz",                         // bad encoding
            "pkcs11:object=%4",                          // truncated encoding
            "pkcs11:object",                             // no `=`
            "pkcs11:object=k;slot-id=x",                 // not a number
            "pkcs11:object=k?pin-value=1&pin-source=/p", // two PINs
            "pkcs11:object=k?pin-source=relative",       // relative
            "pkcs11:object=k?module-name=softhsm2",      // unsupported
            "pkcs11:object=k?x-vendor=1",                // unknown
            "pkcs11:object=%ff",                         // not UTF-8
        ] {
            assert!(
                matches!(Pkcs11Uri::parse(bad), Err(Error::Pkcs11Uri(_))),
                "{bad} parsed"
            );
        }
    }

    #[test]
    fn missing_module_is_a_clear_error() {
        let u = Pkcs11Uri::parse("pkcs11:object=k?pin-value=1").unwrap();
        assert!(matches!(
            Pkcs11Signer::open(&u, &Pkcs11Options::default(), None),
            Err(Error::Pkcs11Uri(_))
        ));
        let u =
            Pkcs11Uri::parse("pkcs11:object=k?pin-value=1&module-path=/nonexistent.so").unwrap();
        assert!(matches!(
            Pkcs11Signer::open(&u, &Pkcs11Options::default(), None),
            Err(Error::Pkcs11 {
                what: "cannot load module",
                ..
            })
        ));
    }
}
