//! The download loop, independent of the transport: ask a [`Source`] for
//! byte ranges, cut whatever comes back into chunks, keep the chunks that
//! verify, retry the rest, and give up after too many failures.

use super::FetchError;
use super::store::PartialPayload;
use crate::error::{Error, Result};
use core::ops::Range;
use std::collections::HashMap;
use std::io::Read;
use std::prelude::rust_2024::*;
use std::time::{Duration, Instant};

/// A response body and where in the payload it starts and ends.
pub struct Body<'a> {
    /// Payload offset of the body's first byte.
    pub start: u64,
    /// Payload offset just past the body's last byte, as the server declared
    /// it. The body may still end early (a truncated response).
    pub end: u64,
    /// Whether the server ignored the range and sent the whole payload.
    pub whole: bool,
    pub reader: Box<dyn Read + 'a>,
}

impl core::fmt::Debug for Body<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Body")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("whole", &self.whole)
            .finish_non_exhaustive()
    }
}

/// Somewhere payload bytes come from: an HTTP server, a file, a test double.
pub trait Source {
    /// Asks for payload bytes `range`. The answer may start earlier (a
    /// server that ignores ranges sends everything from 0) or be cut short;
    /// the fetcher verifies whatever arrives chunk by chunk.
    fn get(&mut self, range: Range<u64>) -> Result<Body<'_>, FetchError>;
}

/// The longest pause between two attempts at a chunk.
pub const MAX_RETRY_PAUSE: Duration = Duration::from_secs(60);

/// The default minimum transfer rate: 1 KiB/s, far below any working link
/// (GPRS moves several KiB/s) and far above a server that stalls on purpose.
pub const DEFAULT_MIN_RATE: u64 = 1024;
/// The default window the minimum rate is measured over (and the grace a
/// response gets before it is first measured).
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(60);

/// How slowly and for how long a download may go on. A per-read timeout
/// alone does not bound either: a server sending one byte every few seconds
/// never trips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferLimits {
    /// Bytes per second a response body must average over each
    /// `rate_window` of its transfer; a slower response is abandoned and
    /// counts as a failed attempt (it is retried, like a cut response).
    /// 0 disables the check.
    pub min_rate: u64,
    /// The window the rate is measured over: a response is first measured
    /// `rate_window` after its body started.
    pub rate_window: Duration,
    /// When the whole download gives up ([`FetchError::DeadlineExceeded`]),
    /// whatever the rate. `None`: never.
    pub deadline: Option<Instant>,
}

impl Default for TransferLimits {
    fn default() -> Self {
        Self {
            min_rate: DEFAULT_MIN_RATE,
            rate_window: DEFAULT_RATE_WINDOW,
            deadline: None,
        }
    }
}

impl TransferLimits {
    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Time left before the deadline (`None`: no deadline).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// A reader that enforces [`TransferLimits`] on what it reads: after the
/// deadline, or when fewer than `min_rate` bytes per second arrived over the
/// last window, a read fails with [`std::io::ErrorKind::TimedOut`]. The
/// check runs when the inner reader returns, so a read that blocks is bounded
/// by the transport's own per-read timeout.
#[derive(Debug)]
pub struct Paced<R> {
    inner: R,
    limits: TransferLimits,
    window_start: Instant,
    window_bytes: u64,
}

impl<R> Paced<R> {
    pub fn new(inner: R, limits: TransferLimits) -> Self {
        Self {
            inner,
            limits,
            window_start: Instant::now(),
            window_bytes: 0,
        }
    }
}

impl<R: Read> Read for Paced<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let timed_out = |msg: String| std::io::Error::new(std::io::ErrorKind::TimedOut, msg);
        if self.limits.expired() {
            return Err(timed_out("the download deadline passed".into()));
        }
        let n = self.inner.read(buf)?;
        self.window_bytes += n as u64;
        let elapsed = self.window_start.elapsed();
        if self.limits.min_rate > 0 && n > 0 && elapsed >= self.limits.rate_window {
            // Measured over the time that really passed, which may exceed
            // the window when a read blocked.
            let needed = u128::from(self.limits.min_rate) * elapsed.as_millis() / 1000;
            if u128::from(self.window_bytes) < needed {
                return Err(timed_out(format!(
                    "below the minimum rate: {} bytes in {:.1} s, at least {} bytes/s needed",
                    self.window_bytes,
                    elapsed.as_secs_f64(),
                    self.limits.min_rate
                )));
            }
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
        Ok(n)
    }
}

/// How a fetch behaves.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// Largest byte span of one request (runs of missing chunks are
    /// coalesced up to this; each chunk is still verified on its own).
    pub max_request_bytes: u64,
    /// A chunk whose attempts fail this many times ends the fetch with
    /// [`FetchError::TooManyFailures`]. An attempt fails when the chunk does
    /// not verify, or when its request errs, is cut short before it, or
    /// brings no chunk at all.
    pub max_bad: u32,
    /// Pause before the n-th retry of a chunk: `retry_delay * n`, at most
    /// [`MAX_RETRY_PAUSE`].
    pub retry_delay: Duration,
    /// Minimum rate and deadline.
    pub limits: TransferLimits,
}

impl Default for FetchOptions {
    fn default() -> Self {
        Self {
            max_request_bytes: super::plan::DEFAULT_MAX_REQUEST_BYTES,
            max_bad: 5,
            retry_delay: Duration::from_millis(250),
            limits: TransferLimits::default(),
        }
    }
}

/// What a fetch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchReport {
    /// Requests sent.
    pub requests: u32,
    /// Response body bytes read from the source by this run.
    pub bytes_received: u64,
    /// Chunks verified and written by this run.
    pub chunks_fetched: u32,
    /// Their size in bytes.
    pub bytes_fetched: u64,
    /// Chunks that arrived but did not verify (each discarded).
    pub bad_chunks: u32,
    /// Requests that failed or were cut short.
    pub failed_requests: u32,
    /// Responses that ignored the requested range and sent the whole payload.
    pub whole_responses: u32,
}

/// Downloads every missing chunk of `partial` from `source`, adding what it
/// did to `report` (also on error, so a caller can say how far it got).
///
/// On success the partial payload is complete (call
/// [`PartialPayload::finish`]); on error the chunks verified so far stay on
/// disk, recorded, for a later resume.
pub fn fetch_missing(
    source: &mut dyn Source,
    partial: &mut PartialPayload,
    opts: &FetchOptions,
    report: &mut FetchReport,
) -> Result<()> {
    let mut run = Run {
        partial,
        opts,
        failures: HashMap::new(),
        report,
        buf: Vec::new(),
    };
    let result = run.fetch_all(source);
    // Record what verified, even when giving up.
    let saved = run.partial.save_record();
    result?;
    saved
}

struct Run<'p> {
    partial: &'p mut PartialPayload,
    opts: &'p FetchOptions,
    /// Per chunk: failed attempts, the last reason, and whether any attempt
    /// brought bytes that did not verify.
    failures: HashMap<u32, (u32, String, bool)>,
    report: &'p mut FetchReport,
    buf: Vec<u8>,
}

impl Run<'_> {
    fn fetch_all(&mut self, source: &mut dyn Source) -> Result<()> {
        let chunk_bytes = self.partial.geometry().chunk_size.bytes() as usize;
        self.buf = vec![0u8; chunk_bytes];
        while !self.partial.is_complete() {
            for req in self.partial.missing_requests(self.opts.max_request_bytes) {
                // An earlier response (e.g. a whole-payload one) may have
                // brought these chunks already.
                let Some(first_missing) = self.partial.have().missing(req.chunks.clone()).next()
                else {
                    continue;
                };
                self.check_deadline()?;
                let attempts = self.failures.get(&first_missing).map_or(0, |f| f.0);
                if attempts > 0 {
                    let pause = self.opts.retry_delay.saturating_mul(attempts);
                    let pause = pause.min(MAX_RETRY_PAUSE);
                    std::thread::sleep(
                        self.opts.limits.remaining().map_or(pause, |r| r.min(pause)),
                    );
                    self.check_deadline()?;
                }
                self.report.requests += 1;
                let before = self.partial.have().count();
                let failed_in_request = match source.get(req.bytes.clone()) {
                    Err(e) => {
                        self.report.failed_requests += 1;
                        self.fail(first_missing, e.to_string())?;
                        true
                    }
                    Ok(body) => self.consume(body, req.chunks.clone())?,
                };
                // A response abandoned at the deadline is not an attempt
                // worth counting: the whole download stops here.
                self.check_deadline()?;
                if self.partial.have().count() == before && !failed_in_request {
                    self.report.failed_requests += 1;
                    self.fail(first_missing, "the response brought no chunk".into())?;
                }
            }
        }
        Ok(())
    }

    fn check_deadline(&self) -> Result<()> {
        if self.opts.limits.expired() {
            return Err(FetchError::DeadlineExceeded.into());
        }
        Ok(())
    }

    /// Reads `body` chunk by chunk, keeping the chunks that verify. Returns
    /// whether any failure was counted.
    fn consume(&mut self, body: Body<'_>, requested: Range<u32>) -> Result<bool> {
        let geometry = *self.partial.geometry();
        if body.whole {
            self.report.whole_responses += 1;
        }
        let Body {
            start, end, reader, ..
        } = body;
        let mut reader = Paced::new(reader, self.opts.limits);
        let end = end.min(geometry.payload_len);
        let mut failed = false;
        // The last chunk this response can still usefully bring: past it we
        // stop reading (and drop the connection) instead of draining the body.
        let Some(last_needed) = (0..self.partial.have().len())
            .rev()
            .find(|&i| !self.partial.have().contains(i))
        else {
            return Ok(false);
        };
        // Skip to the first chunk boundary at or after `start`.
        let cs = geometry.chunk_size.bytes();
        let mut index = u32::try_from(start.div_ceil(cs)).unwrap_or(u32::MAX);
        let skip = (u64::from(index) * cs).min(end).saturating_sub(start);
        if skip > 0 {
            match std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink()) {
                Ok(n) => {
                    self.report.bytes_received += n;
                    if n < skip {
                        return self.truncated(requested.clone(), index, "before the first chunk");
                    }
                }
                Err(e) => return self.truncated(requested.clone(), index, &e.to_string()),
            }
        }
        while index <= last_needed {
            let r = geometry.chunk_range(index);
            if r.end > end || (r.is_empty() && index > 0) {
                break;
            }
            let len = (r.end - r.start) as usize;
            let chunk = &mut self.buf[..len];
            let got = read_full(&mut reader, chunk);
            self.report.bytes_received += got.0 as u64;
            if let Some(err) = got.1 {
                self.truncated(requested.clone(), index, &err)?;
                return Ok(true);
            }
            if !self.partial.have().contains(index) {
                match self.partial.accept_chunk(index, chunk) {
                    Ok(_) => {
                        self.report.chunks_fetched += 1;
                        self.report.bytes_fetched += len as u64;
                        self.failures.remove(&index);
                    }
                    Err(Error::ChunkHashMismatch { .. }) => {
                        self.report.bad_chunks += 1;
                        failed = true;
                        self.fail_as(index, "the chunk did not match the manifest".into(), true)?;
                    }
                    Err(e) => return Err(e),
                }
            }
            index += 1;
        }
        Ok(failed)
    }

    /// A body that ended (or failed) before chunk `index` was complete:
    /// counts a failure against the first missing requested chunk from there.
    fn truncated(&mut self, requested: Range<u32>, index: u32, why: &str) -> Result<bool> {
        self.report.failed_requests += 1;
        let victim = self
            .partial
            .have()
            .missing(index.max(requested.start)..requested.end)
            .next();
        if let Some(v) = victim {
            self.fail(v, format!("the response ended early: {why}"))?;
        }
        Ok(true)
    }

    fn fail(&mut self, index: u32, why: String) -> Result<()> {
        self.fail_as(index, why, false)
    }

    fn fail_as(&mut self, index: u32, why: String, bad_data: bool) -> Result<()> {
        let entry = self
            .failures
            .entry(index)
            .or_insert((0, String::new(), false));
        entry.0 += 1;
        entry.1 = why;
        // Sticky: once the source sent bytes for this chunk that do not
        // verify, giving up on it is a verification failure, whatever the
        // later attempts did (FORMAT.md §13.4).
        entry.2 |= bad_data;
        if entry.0 >= self.opts.max_bad {
            return Err(FetchError::TooManyFailures {
                index,
                attempts: entry.0,
                last: entry.1.clone(),
                bad_data: entry.2,
            }
            .into());
        }
        Ok(())
    }
}

/// Reads until `buf` is full, EOF, or an error. Returns the bytes read and,
/// unless `buf` was filled, why not.
fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> (usize, Option<String>) {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => {
                return (
                    filled,
                    Some(format!(
                        "end of body after {filled} of {} bytes of a chunk",
                        buf.len()
                    )),
                );
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e.to_string())),
        }
    }
    (filled, None)
}
