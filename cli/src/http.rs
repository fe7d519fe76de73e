//! A [`Source`] over HTTP(S) with `ureq`: one `Range` request per call.
//!
//! The transport `otaseal fetch` uses; the library's `fetch` module (the
//! plan, the verified partial file, the retrying driver) knows no transport.

use otaseal::fetch::{Body, FetchError, Paced, Source, TransferLimits, parse_content_range};
use std::io::Read;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Largest manifest accepted from a URL: the format's cap, as for a file.
pub const MAX_MANIFEST_BYTES: u64 = otaseal::format::manifest::MAX_LEN;

/// Fetches payload byte ranges from one URL.
#[derive(Debug)]
pub struct HttpSource {
    agent: ureq::Agent,
    url: String,
    payload_len: u64,
    deadline: Option<Instant>,
}

/// The agent otaseal uses: no transparent decompression (ranges are of the
/// stored bytes), statuses handled by the caller, and timeouts so a stalled
/// server becomes a retry instead of a hang.
pub fn agent(read_timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .accept_encoding("identity")
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_response(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(read_timeout))
        .user_agent(concat!("otaseal/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

impl HttpSource {
    /// A source for the payload at `url`, which must be `payload_len` bytes.
    pub fn new(agent: ureq::Agent, url: impl Into<String>, payload_len: u64) -> Self {
        Self {
            agent,
            url: url.into(),
            payload_len,
            deadline: None,
        }
    }

    /// Ends every request, even one blocked in a read, at `deadline`.
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }
}

/// A GET of `url` whose whole exchange (connect, headers, body) ends at
/// `deadline` at the latest; an error if the deadline has already passed.
fn request(
    agent: &ureq::Agent,
    url: &str,
    deadline: Option<Instant>,
) -> Result<ureq::RequestBuilder<ureq::typestate::WithoutBody>, FetchError> {
    let req = agent.get(url);
    let Some(deadline) = deadline else {
        return Ok(req);
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(FetchError::DeadlineExceeded);
    }
    Ok(req.config().timeout_global(Some(left)).build())
}

impl Source for HttpSource {
    fn get(&mut self, range: Range<u64>) -> Result<Body<'_>, FetchError> {
        if range.is_empty() {
            // Nothing to ask for (an empty payload's one empty chunk).
            return Ok(Body {
                start: range.start,
                end: range.end,
                whole: false,
                reader: Box::new(std::io::empty()),
            });
        }
        let response = request(&self.agent, &self.url, self.deadline)?
            .header("Range", format!("bytes={}-{}", range.start, range.end - 1))
            .call()
            .map_err(|e| FetchError::Transport {
                url: self.url.clone(),
                message: e.to_string(),
            })?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (start, end, whole) = match status {
            206 => {
                if header("content-type").is_some_and(|t| t.starts_with("multipart/")) {
                    return Err(FetchError::BadResponse {
                        url: self.url.clone(),
                        reason: "multipart range response to a single-range request".into(),
                    });
                }
                let cr = header("content-range").ok_or_else(|| FetchError::BadResponse {
                    url: self.url.clone(),
                    reason: "206 without Content-Range".into(),
                })?;
                let (s, e, total) =
                    parse_content_range(&cr).ok_or_else(|| FetchError::BadResponse {
                        url: self.url.clone(),
                        reason: format!("unparsable Content-Range `{cr}`"),
                    })?;
                if total.is_some_and(|t| t != self.payload_len) {
                    return Err(FetchError::BadResponse {
                        url: self.url.clone(),
                        reason: format!(
                            "the server's file is {} bytes, the manifest says {}",
                            total.unwrap_or(0),
                            self.payload_len
                        ),
                    });
                }
                (s, e, false)
            }
            // The server ignored the range: the body is the whole file.
            200 => (0, self.payload_len, true),
            _ => {
                return Err(FetchError::Status {
                    url: self.url.clone(),
                    status,
                });
            }
        };
        Ok(Body {
            start,
            end,
            whole,
            reader: Box::new(response.into_body().into_reader()),
        })
    }
}

/// Reads a whole (small) resource, e.g. a manifest, bounded in size and,
/// by `limits`, in rate and time.
pub fn get_bytes(
    agent: &ureq::Agent,
    url: &str,
    limit: u64,
    limits: &TransferLimits,
) -> Result<Vec<u8>, FetchError> {
    let transport = |message: String| FetchError::Transport {
        url: url.to_owned(),
        message,
    };
    let mut response = request(agent, url, limits.deadline)?
        .call()
        .map_err(|e| transport(e.to_string()))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(FetchError::Status {
            url: url.to_owned(),
            status,
        });
    }
    let mut out = Vec::new();
    let reader = response.body_mut().with_config().limit(limit).reader();
    let result = Paced::new(reader, *limits).read_to_end(&mut out);
    if limits.expired() {
        return Err(FetchError::DeadlineExceeded);
    }
    result.map_err(|e| transport(e.to_string()))?;
    Ok(out)
}
