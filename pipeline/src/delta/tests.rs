use super::*;

/// Deterministic pseudo-random bytes (xorshift), some runs compressible.
fn bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(4) {
            // A repeated word, as code has.
            out.extend_from_slice(b"mov r0, r1; ");
        } else {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out.truncate(len);
    out
}

/// `base` with an insertion, a patched region and a moved block.
fn edited(base: &[u8]) -> Vec<u8> {
    let mut new = base.to_vec();
    new.splice(1000..1000, bytes(99, 777));
    for b in &mut new[20_000..20_100] {
        *b ^= 0x5a;
    }
    let moved: Vec<u8> = new.drain(30_000..40_000).collect();
    new.extend_from_slice(&moved);
    new
}

fn decode_vec(
    encoding: Encoding,
    base: &[u8],
    patch: &[u8],
    max: u64,
) -> Result<Vec<u8>, DeltaError> {
    let mut out = Vec::new();
    let n = decode_to(encoding, base, patch, &mut out, max)?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

const ALL: [Encoding; 4] = Encoding::ALL;

#[test]
fn every_encoding_round_trips() {
    let base = bytes(1, 100_000);
    let new = edited(&base);
    for encoding in ALL {
        for level in [FAST_LEVEL, BEST_LEVEL] {
            let enc = encode_as(encoding, &base, &new, level).unwrap();
            assert_eq!(enc.encoding, encoding);
            let out = decode_vec(encoding, &base, &enc.bytes, new.len() as u64).unwrap();
            assert!(out == new, "{encoding:?} at {level}");
        }
        // Empty new version, empty base.
        let enc = encode_as(encoding, &base, &[], FAST_LEVEL).unwrap();
        assert!(
            decode_vec(encoding, &base, &enc.bytes, 0)
                .unwrap()
                .is_empty()
        );
        let enc = encode_as(encoding, &[], &new, FAST_LEVEL).unwrap();
        assert!(decode_vec(encoding, &[], &enc.bytes, new.len() as u64).unwrap() == new);
    }
}

#[test]
fn patches_are_much_smaller_than_the_new_version() {
    let base = bytes(2, 200_000);
    let new = edited(&base);
    let plain = encode(None, &new, Effort::Best).unwrap();
    assert_eq!(plain.encoding, Encoding::Zstd);
    for effort in [Effort::Fast, Effort::Best] {
        let enc = encode(Some(&base), &new, effort).unwrap();
        assert_ne!(enc.encoding, Encoding::Zstd);
        assert!(
            enc.bytes.len() * 20 < plain.bytes.len(),
            "{effort:?}: {} vs {}",
            enc.bytes.len(),
            plain.bytes.len()
        );
        let out = decode_vec(enc.encoding, &base, &enc.bytes, new.len() as u64).unwrap();
        assert!(out == new);
    }
}

#[test]
fn best_keeps_the_smaller_candidate() {
    let base = bytes(3, 50_000);
    let new = edited(&base);
    let z = encode_as(Encoding::ZstdPatch, &base, &new, BEST_LEVEL).unwrap();
    let b = encode_as(Encoding::Bsdiff, &base, &new, BSDIFF_LEVEL).unwrap();
    let x = encode_as(Encoding::BsdiffXz, &base, &new, BEST_LEVEL).unwrap();
    let best = encode(Some(&base), &new, Effort::Best).unwrap();
    let sizes = [z.bytes.len(), b.bytes.len(), x.bytes.len()];
    assert_eq!(best.bytes.len(), *sizes.iter().min().unwrap(), "{sizes:?}");
    // The first of the smallest: the one chosen is one of the three.
    assert!([&z, &b, &x].contains(&&best));
}

#[test]
fn xz_dictionary_is_sized_to_the_stream_within_the_bound() {
    assert_eq!(xz::dict_size(0), 4096);
    assert_eq!(xz::dict_size(5000), 8192);
    assert_eq!(xz::dict_size(1 << 20), 1 << 20);
    assert_eq!(xz::dict_size((1 << 20) + 1), 2 << 20);
    assert_eq!(xz::dict_size(usize::MAX), XZ_MAX_DICT);
    assert_eq!(xz::dict_size(100 << 20), XZ_MAX_DICT);
}

/// A `bsdiff-xz` stream whose LZMA2 dictionary exceeds [`XZ_MAX_DICT`] is
/// refused from its header, before the dictionary is allocated; one at
/// the bound decodes.
#[test]
fn xz_dictionary_larger_than_allowed_is_refused() {
    let base = bytes(10, 50_000);
    let new = edited(&base[..]);
    let raw = bsdelta::raw(&base, &new).unwrap();
    let at_bound = xz::compress_with_dict(&raw, XZ_MAX_DICT).unwrap();
    let out = decode_vec(Encoding::BsdiffXz, &base, &at_bound.bytes, new.len() as u64).unwrap();
    assert!(out == new);
    for dict in [3 << 23, 64 << 20] {
        let big = xz::compress_with_dict(&raw, dict).unwrap();
        let err = decode_vec(Encoding::BsdiffXz, &base, &big.bytes, new.len() as u64).unwrap_err();
        assert!(
            matches!(&err, DeltaError::Corrupt { reason, .. } if reason.contains("dictionary")),
            "{dict}: {err}"
        );
    }
}

/// With another base of the same length, a zstd-patch frame decodes to
/// wrong bytes, and its content checksum then fails at the end of the frame:
/// an error, but only after the wrong output was written. A bsdiff patch's
/// checksum covers the patch, not the output: it yields wrong output with
/// no error. Either way the caller must verify the output (and bind the
/// base by digest).
#[test]
fn wrong_base() {
    let base = bytes(4, 1_000_000);
    let other = bytes(5, 1_000_000);
    let new = edited(&base);

    let z = encode_as(Encoding::ZstdPatch, &base, &new, FAST_LEVEL).unwrap();
    let mut out = Vec::new();
    let err = decode_to(
        Encoding::ZstdPatch,
        &other,
        &z.bytes[..],
        &mut out,
        new.len() as u64,
    )
    .unwrap_err();
    assert!(matches!(err, DeltaError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("checksum"), "{err}");
    assert!(
        !out.is_empty() && out != new[..out.len()],
        "wrong bytes were written before the error"
    );

    for encoding in [Encoding::Bsdiff, Encoding::BsdiffXz] {
        let b = encode_as(encoding, &base, &new, FAST_LEVEL).unwrap();
        let out = decode_vec(encoding, &other, &b.bytes, new.len() as u64).unwrap();
        assert_eq!(out.len(), new.len());
        assert!(out != new);

        // A shorter base: bsdiff records reach past it.
        let err = decode_vec(encoding, &base[..50_000], &b.bytes, u64::MAX).unwrap_err();
        assert!(
            matches!(err, DeltaError::Corrupt { .. }),
            "{encoding:?}: {err}"
        );
    }
}

#[test]
fn truncated_altered_or_extended_patches_are_errors() {
    let base = bytes(6, 100_000);
    let new = edited(&base);
    for encoding in ALL {
        let enc = encode_as(encoding, &base, &new, FAST_LEVEL).unwrap();
        let p = &enc.bytes;
        let max = new.len() as u64;
        for cut in [0, 1, 4, p.len() / 2, p.len() - 1] {
            let err = decode_vec(encoding, &base, &p[..cut], max).unwrap_err();
            assert!(
                matches!(err, DeltaError::Corrupt { .. }),
                "{encoding:?} cut at {cut}: {err}"
            );
        }
        let mut extended = p.clone();
        extended.push(0);
        let err = decode_vec(encoding, &base, &extended, max).unwrap_err();
        assert!(err.to_string().contains("trailing"), "{encoding:?}: {err}");
        // Flipped bits anywhere: an error, or (a bit the format ignores,
        // such as the frame header's unused bit) the right output; never
        // other output without an error (the frame checksums it).
        let mut errors = 0;
        let flips = 40;
        for k in 0..flips {
            let mut altered = p.clone();
            let at = 4 + (k * (p.len() - 8)) / flips;
            altered[at] ^= 0x10;
            match decode_vec(encoding, &base, &altered, max) {
                Err(DeltaError::Corrupt { .. } | DeltaError::TooLarge { .. }) => errors += 1,
                Err(e) => panic!("{encoding:?}: unexpected {e}"),
                Ok(out) => assert!(
                    out == new,
                    "{encoding:?}: flip at {at}: wrong output, no error"
                ),
            }
        }
        assert!(errors * 4 >= flips * 3, "{encoding:?}: {errors}/{flips}");
    }
}

#[test]
fn output_limit_refuses_bombs() {
    // 64 MiB of zeros compress to a few KiB.
    let zeros = vec![0u8; 64 << 20];
    let bomb = encode_as(Encoding::Zstd, &[], &zeros, FAST_LEVEL).unwrap();
    assert!(bomb.bytes.len() < 64 << 10, "{}", bomb.bytes.len());
    let mut out = Vec::new();
    let err = decode_to(Encoding::Zstd, &[], &bomb.bytes[..], &mut out, 1 << 20).unwrap_err();
    assert!(
        matches!(err, DeltaError::TooLarge { limit } if limit == 1 << 20),
        "{err}"
    );
    assert!(out.is_empty(), "its declared size is refused up front");

    // The same without a declared size, in a window the limit allows: the
    // writer stops it at the limit.
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.include_contentsize(false).unwrap();
    enc.window_log(20).unwrap();
    std::io::Write::write_all(&mut enc, &zeros).unwrap();
    let hidden = enc.finish().unwrap();
    let mut out = Vec::new();
    let err = decode_to(Encoding::Zstd, &[], &hidden[..], &mut out, 2 << 20).unwrap_err();
    assert!(matches!(err, DeltaError::TooLarge { .. }), "{err}");
    assert!(!out.is_empty() && out.len() <= 2 << 20, "{}", out.len());

    // One byte short of the real size is refused as well; the size itself is not.
    let base = bytes(7, 100_000);
    let new = edited(&base);
    for encoding in ALL {
        let enc = encode_as(encoding, &base, &new, FAST_LEVEL).unwrap();
        let mut out = Vec::new();
        let err = decode_to(
            encoding,
            &base,
            &enc.bytes[..],
            &mut out,
            new.len() as u64 - 1,
        );
        assert!(
            matches!(
                err,
                Err(DeltaError::TooLarge { .. }) | Err(DeltaError::Corrupt { .. })
            ),
            "{encoding:?}: {err:?}"
        );
        assert!(out.len() < new.len());
        assert!(decode_vec(encoding, &base, &enc.bytes, new.len() as u64).is_ok());
    }

    // A bsdiff stream whose records expand past the limit: a control record
    // of 1 GiB of extra bytes that are not there is refused for the limit
    // or as truncated, without allocating it.
    let mut raw = Vec::new();
    raw.extend_from_slice(&0u64.to_le_bytes());
    raw.extend_from_slice(&(1u64 << 30).to_le_bytes());
    raw.extend_from_slice(&0u64.to_le_bytes());
    raw.extend_from_slice(&[7u8; 1000]);
    let frame = zstd::stream::encode_all(&raw[..], 3).unwrap();
    let err = decode_vec(Encoding::Bsdiff, &base, &frame, 500).unwrap_err();
    assert!(matches!(err, DeltaError::TooLarge { limit: 500 }), "{err}");
    let stream = xz::compress(&raw).unwrap();
    let err = decode_vec(Encoding::BsdiffXz, &base, &stream.bytes, 500).unwrap_err();
    assert!(matches!(err, DeltaError::TooLarge { limit: 500 }), "{err}");

    // 16 MiB of output from a few KiB of .xz: bsdiff records copying zeros.
    let mut raw = Vec::new();
    for _ in 0..16 {
        raw.extend_from_slice(&0u64.to_le_bytes());
        raw.extend_from_slice(&(1u64 << 20).to_le_bytes());
        raw.extend_from_slice(&0u64.to_le_bytes());
        raw.resize(raw.len() + (1 << 20), 0);
    }
    let stream = xz::compress(&raw).unwrap();
    assert!(stream.bytes.len() < 16 << 10, "{}", stream.bytes.len());
    let mut out = Vec::new();
    let err = decode_to(
        Encoding::BsdiffXz,
        &[],
        &stream.bytes[..],
        &mut out,
        1 << 20,
    )
    .unwrap_err();
    assert!(matches!(err, DeltaError::TooLarge { .. }), "{err}");
    assert!(out.len() <= 1 << 20);
}

#[test]
fn window_larger_than_allowed_is_refused() {
    // A frame whose window (2^27) exceeds what a 1000-byte output allows.
    let new = bytes(8, 1000);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.window_log(27).unwrap();
    enc.include_contentsize(false).unwrap();
    std::io::Write::write_all(&mut enc, &new).unwrap();
    let frame = enc.finish().unwrap();
    assert!(decode_vec(Encoding::Zstd, &[], &frame, 1 << 27).unwrap() == new);
    let err = decode_vec(Encoding::Zstd, &[], &frame, 1000).unwrap_err();
    assert!(matches!(err, DeltaError::Corrupt { .. }), "{err}");
}

#[test]
fn window_log_covers_base_and_output() {
    assert_eq!(window_log(0, 0), MIN_WINDOW_LOG);
    assert_eq!(window_log(0, 1024), 10);
    assert_eq!(window_log(512, 513), 11);
    assert_eq!(window_log(16 << 20, 16 << 20), 25);
    assert_eq!(window_log(u64::MAX, u64::MAX), MAX_WINDOW_LOG);
}

#[test]
fn sink_errors_are_write_errors() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let base = bytes(9, 100_000);
    let new = edited(&base);
    for encoding in ALL {
        let enc = encode_as(encoding, &base, &new, FAST_LEVEL).unwrap();
        let err = decode_to(encoding, &base, &enc.bytes[..], Full, u64::MAX).unwrap_err();
        assert!(matches!(err, DeltaError::Write(_)), "{encoding:?}: {err}");
    }
}
