//! Signing through PKCS#11 against a real SoftHSM2 token: the test makes a
//! private SoftHSM2 configuration and token directory, initialises a token,
//! has `otaseal keys generate --pkcs11` create an Ed25519 key pair inside
//! it (C_GenerateKeyPair; sensitive, not extractable), seals bundles signed
//! by the token and verifies them with the public key read from the token.
//!
//! Needs the Debian package `softhsm2` (`scripts/test.sh` installs it). The
//! test fails, naming the package, when it is missing.

use crate::common::cmd::{json, ok, otaseal, stderr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const MODULE_CANDIDATES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
];

fn module() -> PathBuf {
    if let Some(m) = std::env::var_os("OTASEAL_TEST_PKCS11_MODULE") {
        return m.into();
    }
    MODULE_CANDIDATES
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "SoftHSM2 is not installed (no libsofthsm2.so in {MODULE_CANDIDATES:?}): \
                 run `apt-get install -y softhsm2` or scripts/test.sh"
            )
        })
}

/// A SoftHSM2 token in a temporary directory, initialised with a user PIN.
struct Token {
    dir: tempfile::TempDir,
    conf: PathBuf,
    module: PathBuf,
}

const TOKEN: &str = "otaseal test";
const PIN: &str = "4321-user";

impl Token {
    fn new() -> Self {
        let module = module();
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let init = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", TOKEN])
            .args(["--so-pin", "1234-so", "--pin", PIN])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run softhsm2-util ({e}): run `apt-get install -y softhsm2`")
            });
        assert!(
            init.status.success(),
            "softhsm2-util --init-token failed: {}",
            stderr(&init)
        );
        std::fs::write(dir.path().join("pin"), format!("{PIN}\n")).unwrap();
        Self { dir, conf, module }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A URI for `object`, with the PIN in a file (`pin-source`).
    fn uri(&self, object: &str) -> String {
        format!(
            "pkcs11:token=otaseal%20test;object={object};type=private?module-path={}&pin-source=file:{}",
            self.module.display(),
            self.path("pin").display()
        )
    }

    fn otaseal(&self, args: &[&str]) -> Output {
        otaseal(args)
            .current_dir(self.dir.path())
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
    }
}

fn seal(t: &Token, key: &str, input: &str, out: &str) -> Output {
    t.otaseal(&[
        "seal",
        input,
        "--signing-key",
        key,
        "--recipient",
        "device.pub",
        "--app",
        "com.example.hsm",
        "--version",
        "2.0.0",
        "--sequence",
        "7",
        "--out-dir",
        out,
    ])
}

#[test]
fn softhsm2_generates_signs_and_bundles_verify() {
    let t = Token::new();
    let uri = t.uri("release-a");

    // 1. The key pair is generated inside the token; only the public key
    //    comes out, into hsm.pub.
    let generated = json(&ok(t.otaseal(&[
        "keys", "generate", "--kind", "release", "--pkcs11", &uri, "--out", "hsm", "--json",
    ])));
    let key_id = generated["key_id"].as_str().unwrap().to_owned();
    assert!(generated["secret"].is_null(), "{generated}");
    assert!(!t.path("hsm.key").exists());
    let public = std::fs::read_to_string(t.path("hsm.pub")).unwrap();
    assert!(public.contains("otaseal1:ed25519-public:"), "{public}");

    // 2. The token reports the private key sensitive and never extractable,
    //    and lists the same key id as the public key file.
    let listed = json(&ok(t.otaseal(&["keys", "list", &uri, "hsm.pub", "--json"])));
    assert_eq!(listed["keys"][0]["key_id"], key_id.as_str());
    assert_eq!(
        listed["keys"][0]["pkcs11"]["sensitive_not_extractable"],
        true
    );
    assert_eq!(listed["keys"][1]["key_id"], key_id.as_str());
    assert!(
        !listed.to_string().contains(PIN),
        "the PIN leaked into the listing"
    );

    // 3. Bundles sealed by the token verify against the token's public key
    //    and open on the device.
    ok(t.otaseal(&["keygen", "device", "--out", "device", "--unencrypted"]));
    let sizes = [0usize, 1, 100_000, 300_000];
    for (i, size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..*size).map(|j| (j * 7 + i) as u8).collect();
        std::fs::write(t.path(&format!("b{i}.bin")), &data).unwrap();
        ok(seal(&t, &uri, &format!("b{i}.bin"), "sealed"));
        let manifest = format!("sealed/b{i}.bin.manifest");
        let v = json(&ok(t.otaseal(&[
            "verify",
            &manifest,
            "--trust",
            "hsm.pub",
            "--payload",
            &format!("sealed/b{i}.bin.payload"),
            "--json",
        ])));
        assert_eq!(v["verdict"], "ok");
        assert_eq!(v["signer"], key_id.as_str());
        ok(t.otaseal(&[
            "open",
            &manifest,
            "--payload",
            &format!("sealed/b{i}.bin.payload"),
            "--trust",
            "hsm.pub",
            "--device-key",
            "device.key",
            "-o",
            &format!("b{i}.out"),
        ]));
        assert_eq!(std::fs::read(t.path(&format!("b{i}.out"))).unwrap(), data);
    }

    // 4. Another key does not verify the token's bundles.
    ok(t.otaseal(&["keygen", "signing", "--out", "other", "--unencrypted"]));
    let wrong = t.otaseal(&["verify", "sealed/b0.bin.manifest", "--trust", "other.pub"]);
    assert_eq!(wrong.status.code(), Some(3));

    // 5. The PIN may also come from the environment.
    let no_pin = format!(
        "pkcs11:token=otaseal%20test;object=release-a?module-path={}",
        t.module.display()
    );
    otaseal([
        "seal",
        "b1.bin",
        "--signing-key",
        &no_pin,
        "--recipient",
        "device.pub",
    ])
    .args([
        "--app",
        "com.example.hsm",
        "--version",
        "2.0.1",
        "--sequence",
        "8",
    ])
    .args(["--out-dir", "env-pin"])
    .current_dir(t.dir.path())
    .env("SOFTHSM2_CONF", &t.conf)
    .env("OTASEAL_PKCS11_PIN", PIN)
    .ok();
    ok(t.otaseal(&["verify", "env-pin/b1.bin.manifest", "--trust", "hsm.pub"]));
}

#[test]
fn softhsm2_bad_inputs_each_have_their_error() {
    let t = Token::new();
    let uri = t.uri("release-b");
    ok(t.otaseal(&[
        "keys", "generate", "--kind", "release", "--pkcs11", &uri, "--out", "hsm",
    ]));
    ok(t.otaseal(&["keygen", "device", "--out", "device", "--unencrypted"]));
    std::fs::write(t.path("b.bin"), b"bundle").unwrap();

    let module = t.module.display().to_string();
    let cases: Vec<(&str, String, i32, &str)> = vec![
        (
            "wrong PIN",
            format!(
                "pkcs11:token=otaseal%20test;object=release-b?module-path={module}&pin-value=0000"
            ),
            7,
            "refused the PIN",
        ),
        (
            "no such key",
            format!("pkcs11:token=otaseal%20test;object=nope?module-path={module}&pin-value={PIN}"),
            5,
            "key not found",
        ),
        (
            "no such token",
            format!("pkcs11:token=other;object=release-b?module-path={module}&pin-value={PIN}"),
            5,
            "no token matches",
        ),
        (
            "no module",
            format!(
                "pkcs11:token=otaseal%20test;object=release-b?module-path=/nonexistent/p11.so&pin-value={PIN}"
            ),
            5,
            "cannot load module",
        ),
        (
            "no PIN anywhere",
            format!("pkcs11:token=otaseal%20test;object=release-b?module-path={module}"),
            2,
            "no passphrase available",
        ),
        (
            "unsupported attribute",
            format!(
                "pkcs11:token=otaseal%20test;object=release-b;library-version=3?module-path={module}&pin-value={PIN}"
            ),
            2,
            "unsupported attribute",
        ),
    ];
    for (name, key, want, message) in cases {
        let o = seal(&t, &key, "b.bin", "out");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(want), "{name}: {err}");
        assert!(err.contains(message), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}");
        if name == "wrong PIN" {
            assert!(!err.contains("0000"), "the PIN leaked: {err}");
        }
    }
    assert!(!t.path("out/b.bin.manifest").exists());

    // A second key under the same label is refused; the first still signs.
    let again = t.otaseal(&[
        "keys", "generate", "--kind", "release", "--pkcs11", &uri, "--out", "again",
    ]);
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(!Path::new(&t.path("again.pub")).exists());
    ok(seal(&t, &uri, "b.bin", "out"));
    ok(t.otaseal(&["verify", "out/b.bin.manifest", "--trust", "hsm.pub"]));
}
