//! `otaseal fetch` against a real nginx serving sealed bundles on 127.0.0.1:
//! full fetch, resume after the client is killed, a corrupted chunk, a server
//! that ignores Range, truncated responses (through a tiny cutting proxy) and
//! a truncated file. Every case checks that nothing unverified is kept and
//! that the final payload and plaintext are exact.
//!
//! Needs the Debian package `nginx` (the binary is looked up on PATH and in
//! /usr/sbin). Each test starts its own nginx on a free port in a temp dir
//! and stops it when done.

use crate::common::cmd::{json, ok, otaseal, run, stderr, stdout};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CHUNK: u64 = 64 * 1024;

fn nginx_binary() -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':').chain([
        "/usr/sbin",
        "/usr/local/sbin",
        "/sbin",
    ]) {
        let p = Path::new(dir).join("nginx");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "nginx is not installed: these tests need a real HTTP server. \
         Install it with `apt-get install -y nginx` (scripts/test.sh does this)."
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An nginx instance serving `root/{good,corrupt,short}` under several
/// locations; killed on drop.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    fn start(dir: &Path) -> Self {
        let bin = nginx_binary();
        for sub in ["logs", "tmp", "good", "corrupt", "short"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            r#"
worker_processes 1;
daemon off;
master_process off;
pid {d}/logs/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 64; }}
http {{
    log_format ranges '$uri $status "$http_range" $body_bytes_sent';
    access_log {d}/logs/access.log ranges;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    server {{
        listen 127.0.0.1:{port};
        location /good/    {{ alias {d}/good/; }}
        location /slow/    {{ alias {d}/good/; limit_rate 512k; sendfile off; output_buffers 2 16k; }}
        location /corrupt/ {{ alias {d}/corrupt/; }}
        location /norange/ {{ alias {d}/good/; max_ranges 0; }}
        location /short/   {{ alias {d}/short/; }}
    }}
}}
"#
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(&bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let n = Self {
            child,
            port,
            dir: dir.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start; error log:\n{}",
                std::fs::read_to_string(dir.join("logs/error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        n
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// (range header, body bytes sent) of every logged request for `prefix`.
    fn requests(&self, prefix: &str) -> Vec<(String, u64)> {
        std::fs::read_to_string(self.dir.join("logs/access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .map(|l| {
                let range = l.split('"').nth(1).unwrap_or("").to_owned();
                let bytes = l.rsplit(' ').next().unwrap().parse().unwrap();
                (range, bytes)
            })
            .collect()
    }

    fn bytes_sent(&self, prefix: &str) -> u64 {
        self.requests(prefix).iter().map(|r| r.1).sum()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A sealed bundle, its keys, and a payload copy with one flipped byte.
struct Bundle {
    dir: PathBuf,
    plain: Vec<u8>,
    payload: Vec<u8>,
    manifest: PathBuf,
    trust: PathBuf,
    device_key: PathBuf,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

impl Bundle {
    /// Seals `len` pseudo-random bytes with 64 KiB chunks into `www/good`,
    /// a copy with byte `flip` flipped into `www/corrupt`, and the first
    /// half of the payload into `www/short`.
    fn create(dir: &Path, www: &Path, len: usize, flip: usize) -> Self {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
        let plain: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let input = dir.join("firmware.bin");
        std::fs::write(&input, &plain).unwrap();
        let sign = dir.join("sign");
        let device = dir.join("device");
        otaseal(["keygen", "signing", "--unencrypted", "--out", s(&sign)]).ok();
        otaseal(["keygen", "device", "--unencrypted", "--out", s(&device)]).ok();
        let sealed = dir.join("sealed");
        std::fs::create_dir_all(&sealed).unwrap();
        otaseal([
            "seal",
            s(&input),
            "--signing-key",
            s(&dir.join("sign.key")),
            "--recipient",
            s(&dir.join("device.pub")),
            "--app",
            "com.example.fw",
            "--version",
            "1.0.0",
            "--sequence",
            "1",
            "--chunk-size",
            "64K",
            "--out-dir",
            s(&sealed),
        ])
        .ok();
        let payload = std::fs::read(sealed.join("firmware.bin.payload")).unwrap();
        std::fs::write(www.join("good/fw.payload"), &payload).unwrap();
        let mut bad = payload.clone();
        bad[flip] ^= 0x20;
        std::fs::write(www.join("corrupt/fw.payload"), &bad).unwrap();
        std::fs::write(www.join("short/fw.payload"), &payload[..payload.len() / 2]).unwrap();
        let manifest = sealed.join("firmware.bin.manifest");
        std::fs::copy(&manifest, www.join("good/fw.manifest")).unwrap();
        Self {
            dir: dir.to_owned(),
            plain,
            payload,
            manifest,
            trust: dir.join("sign.pub"),
            device_key: dir.join("device.key"),
        }
    }

    fn fetch(&self, payload_url: &str, out: &Path, extra: &[&str]) -> Output {
        let plain = out.with_extension("plain");
        let mut args = vec![
            "fetch",
            "--manifest",
            s(&self.manifest),
            "--payload",
            payload_url,
            "--trust",
            s(&self.trust),
            "--out",
            s(out),
            "--device-key",
            s(&self.device_key),
            "--decrypt-to",
            s(&plain),
            "--retry-delay-ms",
            "10",
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    }

    /// The output and its plaintext are exact, and no partial files remain.
    fn assert_complete(&self, out: &Path) {
        assert!(
            std::fs::read(out).unwrap() == self.payload,
            "payload differs"
        );
        assert!(
            std::fs::read(out.with_extension("plain")).unwrap() == self.plain,
            "plaintext differs"
        );
        let (part, record) = otaseal::fetch::partial_paths(out);
        assert!(!part.exists() && !record.exists());
    }

    /// Every 64 KiB region of the partial file is either all zero (not
    /// fetched) or exactly the payload's bytes: nothing unverified was kept.
    fn assert_partial_is_clean(&self, out: &Path) -> u64 {
        let (part, _) = otaseal::fetch::partial_paths(out);
        let data = std::fs::read(part).unwrap();
        assert_eq!(data.len(), self.payload.len());
        let mut kept = 0;
        for (i, (got, want)) in data
            .chunks(CHUNK as usize)
            .zip(self.payload.chunks(CHUNK as usize))
            .enumerate()
        {
            if got == want {
                kept += got.len() as u64;
            } else {
                assert!(
                    got.iter().all(|b| *b == 0),
                    "chunk {i} holds unverified bytes"
                );
            }
        }
        assert!(!out.exists(), "output must not appear before completion");
        kept
    }
}

fn setup(len: usize, flip: usize) -> (tempfile::TempDir, Nginx, Bundle) {
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    let nginx = Nginx::start(&www);
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let bundle = Bundle::create(&work, &www, len, flip);
    (tmp, nginx, bundle)
}

#[test]
fn full_fetch_with_coalesced_ranges() {
    let len = 3 * 1024 * 1024 + 777;
    let (_tmp, nginx, b) = setup(len, 0);
    let out = b.dir.join("fw.payload");
    // The manifest comes over HTTP too.
    let r = ok(run([
        "fetch",
        "--manifest",
        &nginx.url("good/fw.manifest"),
        "--payload",
        &nginx.url("good/fw.payload"),
        "--trust",
        s(&b.trust),
        "--out",
        s(&out),
        "--device-key",
        s(&b.device_key),
        "--decrypt-to",
        s(&out.with_extension("plain")),
        "--max-request",
        "1M",
        "--json",
    ]))
    .clone();
    let j = json(&r);
    assert_eq!(j["verdict"], "ok");
    assert_eq!(j["bytes_received"], len as u64);
    assert_eq!(j["bad_chunks"], 0);
    b.assert_complete(&out);
    // 49 chunks of 64 KiB in requests of at most 1 MiB (16 chunks): 4 requests.
    let reqs = nginx.requests("/good/fw.payload");
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    assert_eq!(reqs[0].0, "bytes=0-1048575");
    assert_eq!(j["requests"], 4);
    // Rerunning after success downloads nothing.
    let r = ok(b.fetch(&nginx.url("good/fw.payload"), &out, &[]));
    let j = json(&r);
    assert_eq!(j["already_complete"], true);
    assert_eq!(nginx.requests("/good/fw.payload").len(), 4);
    b.assert_complete(&out);
}

#[test]
fn resume_after_the_client_is_killed() {
    let len = 6 * 1024 * 1024 + 12_345;
    let (_tmp, nginx, b) = setup(len, 0);
    let out = b.dir.join("fw.payload");
    let (_, record_path) = otaseal::fetch::partial_paths(&out);
    // First run through the rate-limited location (512 KiB/s): kill it once a
    // good part has been verified and recorded.
    let mut child = otaseal([
        "fetch",
        "--manifest",
        s(&b.manifest),
        "--payload",
        &nginx.url("slow/fw.payload"),
        "--trust",
        s(&b.trust),
        "--out",
        s(&out),
        "--max-request",
        "4M",
    ])
    .command()
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let recorded = loop {
        let have = std::fs::read(&record_path)
            .ok()
            .and_then(|b| otaseal::format::fetch_record::FetchRecord::parse(&b).ok())
            .map_or(0, |r| r.have.iter().filter(|h| **h).count());
        if have as u64 * CHUNK >= 1024 * 1024 {
            break have;
        }
        assert!(Instant::now() < deadline, "first run made no progress");
        assert!(child.try_wait().unwrap().is_none(), "first run ended early");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let it write some chunks past the last saved record, then kill it
    // (SIGKILL: no chance to save anything).
    std::thread::sleep(Duration::from_millis(900));
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300)); // let nginx log the aborted request
    let before = nginx.bytes_sent("/slow/fw.payload");
    let kept = b.assert_partial_is_clean(&out);
    assert!(
        kept > recorded as u64 * CHUNK,
        "chunks past the record were written: kept {kept}, recorded {recorded}, sent {before}"
    );

    // Second run, full speed: only the missing chunks are requested.
    let r = ok(b.fetch(
        &nginx.url("good/fw.payload"),
        &out,
        &["--max-request", "4M"],
    ))
    .clone();
    let j = json(&r);
    let after = nginx.bytes_sent("/good/fw.payload");
    let reused = j["bytes_reused"].as_u64().unwrap();
    let recovered = j["chunks_recovered_on_resume"].as_u64().unwrap();
    let received = j["bytes_received"].as_u64().unwrap();
    eprintln!(
        "RESUME payload_len={len} chunk=65536 killed_after_recorded_chunks={recorded} \
         first_run_bytes_sent_by_nginx={before} kept_on_disk={kept} \
         second_run_bytes_received={received} second_run_bytes_sent_by_nginx={after} \
         reused_after_reverify={reused} (of which {recovered} chunks past the record) \
         total_fetched={} ({:.3} x payload)",
        before + after,
        (before + after) as f64 / len as f64
    );
    assert_eq!(reused, kept);
    assert_eq!(recovered * CHUNK, kept - recorded as u64 * CHUNK);
    assert_eq!(received, len as u64 - kept);
    assert_eq!(after, received);
    assert!(received < len as u64);
    b.assert_complete(&out);
}

#[test]
fn corrupted_chunk_is_retried_then_refused_and_nothing_bad_is_kept() {
    let len = 1024 * 1024 + 100;
    let flip = 5 * CHUNK as usize + 1234; // inside chunk 5
    let (_tmp, nginx, b) = setup(len, flip);
    let out = b.dir.join("fw.payload");
    let r = b.fetch(&nginx.url("corrupt/fw.payload"), &out, &["--max-bad", "3"]);
    assert_eq!(r.status.code(), Some(3), "a verification failure");
    let j = json(&r);
    assert_eq!(j["verdict"], "failed");
    assert_eq!(
        j["exit_code"], 3,
        "a chunk that never verifies is a verification failure"
    );
    let err = j["error"].as_str().unwrap();
    assert!(
        err.contains("chunk 5") && err.contains("3 failed attempts"),
        "{err}"
    );
    assert_eq!(j["bad_chunks"], 3);
    // Chunk 5 was asked for three times, each time alone after the first.
    let reqs = nginx.requests("/corrupt/fw.payload");
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert_eq!(reqs[1].0, format!("bytes={}-{}", 5 * CHUNK, 6 * CHUNK - 1));
    // Without --json: exit code 3 and a clear message.
    let plain = run([
        "fetch",
        "--manifest",
        s(&b.manifest),
        "--payload",
        &nginx.url("corrupt/fw.payload"),
        "--trust",
        s(&b.trust),
        "--out",
        s(&out),
        "--max-bad",
        "2",
        "--retry-delay-ms",
        "1",
    ]);
    assert_eq!(plain.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&plain.stderr);
    assert!(stderr.contains("gave up on chunk 5"), "{stderr}");
    // Exit 3 is not announced as a download failure (that is exit 9).
    assert!(!stderr.contains("download failed"), "{stderr}");
    assert!(
        stderr.contains("did not match the signed manifest"),
        "{stderr}"
    );
    // Everything but chunk 5 is kept, chunk 5 is zeros.
    let kept = b.assert_partial_is_clean(&out);
    assert_eq!(kept, len as u64 - CHUNK);
    // A good server (that also ignores Range) completes it.
    let r = ok(b.fetch(&nginx.url("norange/fw.payload"), &out, &[]));
    let j = json(&r);
    assert_eq!(j["bytes_reused"], len as u64 - CHUNK);
    assert_eq!(j["whole_responses"], 1);
    assert_eq!(j["requests"], 1);
    // The whole body is streamed only up to the last missing chunk.
    assert_eq!(j["bytes_received"], 6 * CHUNK);
    b.assert_complete(&out);
}

#[test]
fn server_ignoring_range_is_streamed_and_verified() {
    let len = 2 * 1024 * 1024 + 5;
    let (_tmp, nginx, b) = setup(len, 0);
    let out = b.dir.join("fw.payload");
    let r = ok(b.fetch(
        &nginx.url("norange/fw.payload"),
        &out,
        &["--max-request", "256K"],
    ))
    .clone();
    let j = json(&r);
    assert_eq!(j["whole_responses"], 1);
    assert_eq!(j["requests"], 1, "one 200 response brings every chunk");
    assert_eq!(j["bytes_received"], len as u64);
    let reqs = nginx.requests("/norange/fw.payload");
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].1, len as u64);
    b.assert_complete(&out);
}

#[test]
fn truncated_file_on_the_server_is_refused() {
    let len = 512 * 1024;
    let (_tmp, nginx, b) = setup(len, 0);
    let out = b.dir.join("fw.payload");
    let r = b.fetch(&nginx.url("short/fw.payload"), &out, &["--max-bad", "2"]);
    let j = json(&r);
    assert_eq!(j["verdict"], "failed");
    assert_eq!(j["exit_code"], 9);
    let err = j["error"].as_str().unwrap();
    assert!(
        err.contains("the server's file is 262144 bytes, the manifest says 524288"),
        "{err}"
    );
    assert!(err.starts_with("download failed"), "{err}");
    b.assert_partial_is_clean(&out);
}

/// Relays HTTP/1.1 requests to nginx, one per connection; the first `times`
/// responses are passed to `mangle` (the whole raw response) first.
struct Proxy {
    port: u16,
}

impl Proxy {
    fn start(upstream: u16, times: usize, mangle: fn(Vec<u8>) -> Vec<u8>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let count = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut client) = conn else { break };
                let count = count.clone();
                std::thread::spawn(move || {
                    let mut req = Vec::new();
                    let mut byte = [0u8; 1];
                    while !req.ends_with(b"\r\n\r\n") {
                        if client.read(&mut byte).unwrap_or(0) == 0 {
                            return;
                        }
                        req.push(byte[0]);
                    }
                    let text = String::from_utf8_lossy(&req);
                    let mut head: Vec<&str> = text
                        .split("\r\n")
                        .filter(|l| {
                            !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:")
                        })
                        .collect();
                    head.push("Connection: close");
                    let mut up = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                    up.write_all(format!("{}\r\n\r\n", head.join("\r\n")).as_bytes())
                        .unwrap();
                    let mut resp = Vec::new();
                    up.read_to_end(&mut resp).unwrap();
                    if count.fetch_add(1, Ordering::SeqCst) < times {
                        resp = mangle(resp);
                    }
                    let _ = client.write_all(&resp);
                });
            }
        });
        Self { port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

fn body_start(resp: &[u8]) -> usize {
    resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4
}

#[test]
fn truncated_responses_are_resumed_within_the_run() {
    let len = 1024 * 1024;
    let (_tmp, nginx, b) = setup(len, 0);
    // The first two responses stop 1.5 chunks into their body.
    let proxy = Proxy::start(nginx.port, 2, |mut r| {
        let cut = body_start(&r) + 3 * CHUNK as usize / 2;
        r.truncate(cut);
        r
    });
    let out = b.dir.join("fw.payload");
    let r = ok(b.fetch(
        &proxy.url("good/fw.payload"),
        &out,
        &["--max-request", "512K"],
    ))
    .clone();
    let j = json(&r);
    assert_eq!(j["failed_requests"], 2);
    assert_eq!(j["bad_chunks"], 0);
    // Each cut response still delivered one whole verified chunk.
    assert_eq!(j["bytes_fetched"], len as u64);
    assert_eq!(j["bytes_received"], len as u64 + CHUNK);
    let reqs = nginx.requests("/good/fw.payload");
    assert_eq!(reqs[0].0, "bytes=0-524287");
    assert_eq!(reqs[1].0, "bytes=524288-1048575");
    assert_eq!(
        reqs[2].0, "bytes=65536-524287",
        "resumes after the verified chunk"
    );
    b.assert_complete(&out);
}

#[test]
fn a_chunk_corrupted_once_is_fetched_again() {
    let len = 1024 * 1024;
    let (_tmp, nginx, b) = setup(len, 0);
    let proxy = Proxy::start(nginx.port, 1, |mut r| {
        let at = body_start(&r) + 2 * CHUNK as usize + 17;
        r[at] ^= 1;
        r
    });
    let out = b.dir.join("fw.payload");
    let r = ok(b.fetch(&proxy.url("good/fw.payload"), &out, &["--max-bad", "2"]));
    let j = json(&r);
    assert_eq!(j["bad_chunks"], 1);
    assert_eq!(j["requests"], 2);
    let reqs = nginx.requests("/good/fw.payload");
    assert_eq!(reqs[1].0, format!("bytes={}-{}", 2 * CHUNK, 3 * CHUNK - 1));
    b.assert_complete(&out);
}

/// The exit codes of `fetch` as its help states them: 9 for a download
/// that failed (rerun to resume), 3 for a chunk that kept failing
/// verification.
#[test]
fn fetch_help_states_its_exit_codes() {
    let out = ok(run(["fetch", "--help"]));
    let help = stdout(&out);
    assert!(
        help.contains(
            "9  download failed (network, server, slower than --min-rate, --deadline passed)"
        ),
        "{help}"
    );
    assert!(help.contains("3  a chunk failed --max-bad times"), "{help}");
    let out = ok(run(["--help"]));
    let help = stdout(&out);
    assert!(help.contains("too slow, deadline"), "{help}");
}

/// A hostile HTTP server on 127.0.0.1: it answers every request with a
/// correct `206` for the requested range, sends the first `fast` bytes of
/// its first response at once, and then one byte every `every`, keeping
/// each connection open. It stops itself after 60 s, and when dropped.
struct TrickleServer {
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl TrickleServer {
    fn start(payload: Vec<u8>, fast: usize, every: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let payload = Arc::new(payload);
        std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while !flag.load(Ordering::SeqCst) && Instant::now() < until {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let first = if served == 0 { fast } else { 0 };
                        served += 1;
                        let (payload, flag) = (payload.clone(), flag.clone());
                        std::thread::spawn(move || {
                            trickle(conn, &payload, first, every, &flag, until)
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    Err(_) => break,
                }
            }
        });
        Self { port, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/fw.payload", self.port)
    }
}

impl Drop for TrickleServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn trickle(
    mut conn: TcpStream,
    payload: &[u8],
    fast: usize,
    every: Duration,
    stop: &std::sync::atomic::AtomicBool,
    until: Instant,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut req = Vec::new();
    let mut byte = [0u8; 1];
    while !req.ends_with(b"\r\n\r\n") {
        if conn.read(&mut byte).unwrap_or(0) == 0 || req.len() > 8192 {
            return;
        }
        req.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&req).to_ascii_lowercase();
    let (start, end) = text
        .lines()
        .find_map(|l| l.strip_prefix("range: bytes="))
        .and_then(|r| r.trim().split_once('-'))
        .and_then(|(a, b)| Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()? + 1)))
        .unwrap_or((0, payload.len()));
    let end = end.min(payload.len());
    let head = format!(
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\n\
         Content-Length: {}\r\nContent-Type: application/octet-stream\r\n\
         Connection: close\r\n\r\n",
        end - 1,
        payload.len(),
        end - start
    );
    let fast_end = (start + fast).min(end);
    if conn.write_all(head.as_bytes()).is_err()
        || conn.write_all(&payload[start..fast_end]).is_err()
    {
        return;
    }
    for b in &payload[fast_end..end] {
        if stop.load(Ordering::SeqCst) || Instant::now() >= until {
            return;
        }
        std::thread::sleep(every);
        if conn.write_all(std::slice::from_ref(b)).is_err() {
            return;
        }
    }
}

/// A bundle for the trickle tests (no nginx needed).
fn trickle_setup(len: usize) -> (tempfile::TempDir, Bundle) {
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    for sub in ["good", "corrupt", "short"] {
        std::fs::create_dir_all(www.join(sub)).unwrap();
    }
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let b = Bundle::create(&work, &www, len, 0);
    (tmp, b)
}

#[test]
fn a_trickling_server_trips_the_minimum_rate_and_exits_9() {
    let (_tmp, b) = trickle_setup(512 * 1024);
    // One chunk at once, then 20 bytes/s.
    let server = TrickleServer::start(b.payload.clone(), CHUNK as usize, Duration::from_millis(50));
    let out = b.dir.join("fw.payload");
    let started = Instant::now();
    let r = b.fetch(
        &server.url(),
        &out,
        &[
            "--min-rate",
            "1K",
            "--min-rate-window",
            "1s",
            "--max-bad",
            "2",
        ],
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(r.status.code(), Some(9), "{}", stderr(&r));
    let j = json(&r);
    assert_eq!(j["verdict"], "failed");
    assert_eq!(j["exit_code"], 9);
    let err = j["error"].as_str().unwrap();
    assert!(err.starts_with("download failed"), "{err}");
    assert!(err.contains("minimum rate"), "{err}");
    // The chunk that arrived in time verified and is kept, and recorded.
    assert_eq!(b.assert_partial_is_clean(&out), CHUNK);
    let (_, record) = otaseal::fetch::partial_paths(&out);
    assert!(record.is_file());
}

#[test]
fn the_deadline_ends_a_slow_fetch_with_exit_9() {
    let (_tmp, b) = trickle_setup(512 * 1024);
    let server = TrickleServer::start(b.payload.clone(), CHUNK as usize, Duration::from_millis(50));
    let out = b.dir.join("fw.payload");
    let started = Instant::now();
    // No minimum rate: only the deadline ends it.
    let r = b.fetch(
        &server.url(),
        &out,
        &["--min-rate", "0", "--deadline", "2s"],
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "took {took:?}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(r.status.code(), Some(9), "{}", stderr(&r));
    let err = json(&r)["error"].as_str().unwrap().to_owned();
    assert!(err.contains("deadline"), "{err}");
    assert_eq!(b.assert_partial_is_clean(&out), CHUNK);
}

/// A local manifest is read no further than the largest manifest accepted:
/// `/dev/zero` is refused as malformed (exit 4) instead of filling memory.
#[test]
fn a_local_manifest_is_read_with_a_cap() {
    let (_tmp, b) = trickle_setup(16 * 1024);
    let out = b.dir.join("fw.payload");
    let r = run([
        "fetch",
        "--manifest",
        "/dev/zero",
        "--payload",
        "http://127.0.0.1:9/none",
        "--trust",
        s(&b.trust),
        "--out",
        s(&out),
    ]);
    assert_eq!(r.status.code(), Some(4), "{}", stderr(&r));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(stderr.contains("limit"), "{stderr}");
}
