//! File contents: deterministic byte streams derived from a per-file seed.
//!
//! A file's bytes are the first `size` bytes of the stream for its seed, so
//! the same bytes come out whatever buffer sizes the caller fills with, and
//! a test can recreate any file in memory with [`fill`].

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What the bytes of a generated file look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Content {
    /// Incompressible bytes, like the zips and images of a real fleet
    /// (ChaCha8 keystream).
    #[default]
    Random,
    /// ASCII text made of source-code-like words; compresses several times.
    Text,
}

/// Fills `buf` with the start of the incompressible stream for `seed`.
///
/// This is exactly the content [`crate::generate`] writes for a file whose
/// [`crate::FileSpec::seed`] is `seed` (with [`Content::Random`]).
pub fn fill(seed: u64, buf: &mut [u8]) {
    ContentStream::new(seed, Content::Random).fill(buf);
}

/// Fills `buf` with the start of the stream of kind `content` for `seed`.
pub fn fill_content(seed: u64, content: Content, buf: &mut [u8]) {
    ContentStream::new(seed, content).fill(buf);
}

/// A file's content as a stream: successive [`fill`](Self::fill) calls
/// continue where the previous one stopped, whatever their lengths.
#[derive(Debug, Clone)]
pub struct ContentStream {
    rng: ChaCha8Rng,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// Bytes of the last keystream word not handed out yet.
    Random { carry: [u8; 4], carry_len: usize },
    /// The current text block and how much of it was handed out.
    Text { block: Vec<u8>, pos: usize },
}

/// Size of one independently generated block of text.
const TEXT_BLOCK: usize = 4096;

/// 64 tokens, so one random byte picks a token (6 bits) and a separator (2 bits).
#[rustfmt::skip]
const WORDS: [&[u8]; 64] = [
    b"function", b"return", b"const", b"let", b"var", b"if", b"else", b"for",
    b"while", b"import", b"export", b"from", b"default", b"class", b"extends", b"new",
    b"this", b"null", b"undefined", b"true", b"false", b"await", b"async", b"=>",
    b"{", b"}", b"(", b")", b"[", b"]", b";", b"=",
    b"===", b"&&", b"||", b"+", b"props", b"state", b"render", b"div",
    b"span", b"className", b"onClick", b"value", b"length", b"push", b"map", b"filter",
    b"config", b"bundle", b"update", b"version", b"module", b"require", b"exports", b"window",
    b"document", b"console.log", b"error", b"data", b"items", b"index", b"key", b"0",
];

impl ContentStream {
    /// Starts the stream of kind `content` for `seed`.
    pub fn new(seed: u64, content: Content) -> Self {
        let kind = match content {
            Content::Random => Kind::Random {
                carry: [0; 4],
                carry_len: 0,
            },
            Content::Text => Kind::Text {
                block: Vec::with_capacity(TEXT_BLOCK + 32),
                pos: 0,
            },
        };
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            kind,
        }
    }

    /// Fills `buf` with the next `buf.len()` bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        match &mut self.kind {
            Kind::Random { carry, carry_len } => {
                fill_random(&mut self.rng, carry, carry_len, buf);
            }
            Kind::Text { block, pos } => fill_text(&mut self.rng, block, pos, buf),
        }
    }
}

fn fill_random(rng: &mut ChaCha8Rng, carry: &mut [u8; 4], carry_len: &mut usize, buf: &mut [u8]) {
    // Hand out what is left of the previous word first.
    let take = (*carry_len).min(buf.len());
    let start = 4 - *carry_len;
    buf[..take].copy_from_slice(&carry[start..start + take]);
    *carry_len -= take;
    let buf = &mut buf[take..];

    // Whole words straight from the keystream (ChaCha8Rng keeps word
    // alignment only when asked for multiples of 4 bytes).
    let whole = buf.len() & !3;
    let (head, tail) = buf.split_at_mut(whole);
    rng.fill_bytes(head);
    if !tail.is_empty() {
        *carry = rng.next_u32().to_le_bytes();
        tail.copy_from_slice(&carry[..tail.len()]);
        *carry_len = 4 - tail.len();
    }
}

fn fill_text(rng: &mut ChaCha8Rng, block: &mut Vec<u8>, pos: &mut usize, mut buf: &mut [u8]) {
    while !buf.is_empty() {
        if *pos == block.len() {
            next_text_block(rng, block);
            *pos = 0;
        }
        let n = (block.len() - *pos).min(buf.len());
        let (now, rest) = buf.split_at_mut(n);
        now.copy_from_slice(&block[*pos..*pos + n]);
        *pos += n;
        buf = rest;
    }
}

fn next_text_block(rng: &mut ChaCha8Rng, block: &mut Vec<u8>) {
    block.clear();
    while block.len() < TEXT_BLOCK {
        for byte in rng.next_u64().to_le_bytes() {
            block.extend_from_slice(WORDS[usize::from(byte & 63)]);
            block.push(if byte >> 6 == 3 { b'\n' } else { b' ' });
        }
    }
    block.truncate(TEXT_BLOCK);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunked(seed: u64, content: Content, len: usize, chunks: &[usize]) -> Vec<u8> {
        let mut out = vec![0; len];
        let mut stream = ContentStream::new(seed, content);
        let mut at = 0;
        for &c in chunks.iter().cycle() {
            if at == len {
                break;
            }
            let end = (at + c).min(len);
            stream.fill(&mut out[at..end]);
            at = end;
        }
        out
    }

    #[test]
    fn stream_is_independent_of_chunking() {
        for content in [Content::Random, Content::Text] {
            let mut whole = vec![0; 20_000];
            fill_content(7, content, &mut whole);
            for chunks in [&[1usize][..], &[3, 5, 7], &[4096], &[4095, 2, 9000]] {
                assert_eq!(
                    chunked(7, content, whole.len(), chunks),
                    whole,
                    "{content:?} {chunks:?}"
                );
            }
        }
    }

    #[test]
    fn seeds_give_different_streams() {
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        fill(1, &mut a);
        fill(2, &mut b);
        assert_ne!(a, b);
        let mut a2 = [0u8; 64];
        fill(1, &mut a2);
        assert_eq!(a, a2);
    }

    #[test]
    fn random_looks_incompressible_and_text_looks_like_text() {
        let mut buf = vec![0; 1 << 16];
        fill(3, &mut buf);
        let mut counts = [0usize; 256];
        buf.iter().for_each(|&b| counts[usize::from(b)] += 1);
        // Expected 256 per value; a wildly skewed histogram would mean a bug.
        assert!(counts.iter().all(|&c| (128..=384).contains(&c)));

        fill_content(3, Content::Text, &mut buf);
        assert!(
            buf.iter()
                .all(|b| b.is_ascii_graphic() || *b == b' ' || *b == b'\n')
        );
    }
}
