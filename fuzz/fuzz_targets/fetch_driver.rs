#![no_main]
//! The download loop against a scripted hostile server: each response may be
//! honest, the whole file, start anywhere, be cut short, carry flipped bytes
//! or be garbage. Whatever the script, `fetch_missing` ends (complete or
//! giving up), and the partial file holds only verified chunks and zeros.

use libfuzzer_sys::fuzz_target;
use otaseal::fetch::{
    Body, FetchError, FetchOptions, FetchReport, PartialPayload, Source, fetch_missing,
};
use otaseal_fuzz::fixture;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

struct Scripted<'a> {
    payload: &'a [u8],
    script: &'a [u8],
}

impl Scripted<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.script.split_first()?;
        self.script = rest;
        Some(b)
    }

    fn u16(&mut self) -> usize {
        usize::from(self.byte().unwrap_or(0)) << 8 | usize::from(self.byte().unwrap_or(0))
    }
}

impl Source for Scripted<'_> {
    fn get(&mut self, range: Range<u64>) -> Result<Body<'_>, FetchError> {
        let op = self.byte().ok_or(FetchError::Transport {
            url: "script".into(),
            message: "script exhausted".into(),
        })?;
        let len = self.payload.len();
        let (mut start, end) = (range.start as usize, range.end as usize);
        let mut whole = false;
        let mut body: Vec<u8>;
        match op % 6 {
            0 => body = self.payload[start..end].to_vec(),
            1 => {
                whole = true;
                start = 0;
                body = self.payload.to_vec();
            }
            2 => {
                start = self.u16() * 64 % (len + 1);
                body = self.payload[start..len].to_vec();
            }
            3 => {
                body = self.payload[start..end].to_vec();
                body.truncate(self.u16() * 16);
            }
            4 => {
                body = self.payload[start..end].to_vec();
                if !body.is_empty() {
                    let at = self.u16() * 8 % body.len();
                    body[at] ^= self.byte().unwrap_or(1) | 1;
                }
            }
            _ => {
                let n = self.u16();
                body = (0..n)
                    .map(|i| {
                        self.script
                            .get(i % self.script.len().max(1))
                            .copied()
                            .unwrap_or(0)
                    })
                    .collect();
            }
        }
        let declared_end = if op & 0x80 != 0 {
            start + body.len() + self.u16()
        } else {
            start + body.len()
        };
        Ok(Body {
            start: start as u64,
            end: declared_end.max(if whole { len } else { 0 }) as u64,
            whole,
            reader: Box::new(std::io::Cursor::new(body)),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Some((&max_req, script)) = rest.split_first() else {
        return;
    };
    let f = fixture();
    let b = &f.bundles[sel as usize % f.bundles.len()];
    static N: AtomicU64 = AtomicU64::new(0);
    // tmpfs when there is one: every run creates files and fsyncs a record.
    let base = Some(std::path::PathBuf::from("/dev/shm"))
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!(
        "otaseal-fuzz-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let dest = dir.join("p");
    let mut partial = PartialPayload::open(b.verified.clone(), &dest).unwrap();
    let opts = FetchOptions {
        max_request_bytes: 1 + u64::from(max_req) * 4096,
        max_bad: 3,
        retry_delay: Duration::ZERO,
        ..FetchOptions::default()
    };
    let mut src = Scripted {
        payload: &b.payload,
        script,
    };
    let mut report = FetchReport::default();
    let result = fetch_missing(&mut src, &mut partial, &opts, &mut report);
    let on_disk = std::fs::read(partial.data_path()).unwrap();
    assert_eq!(on_disk.len(), b.payload.len());
    for i in 0..b.verified.chunk_count() {
        let r = b.verified.chunk_range(i).unwrap();
        let (got, want) = (
            &on_disk[r.start as usize..r.end as usize],
            &b.payload[r.start as usize..r.end as usize],
        );
        if partial.have().contains(i) {
            assert_eq!(got, want, "chunk {i} marked present but wrong");
        } else {
            assert!(
                got.iter().all(|x| *x == 0),
                "chunk {i} holds unverified bytes"
            );
        }
    }
    match result {
        Ok(()) => assert!(partial.is_complete()),
        Err(otaseal::Error::Fetch(FetchError::TooManyFailures { attempts: 3, .. })) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
    drop(partial);
    std::fs::remove_dir_all(&dir).unwrap();
});
