//! Signed checkpoints (`docs/FORMAT.md` §16.3.1): a key the signing host
//! does not hold (e.g. on the monitoring host) signs the log's head — entry
//! count and last line hash — and the signature is appended as a
//! `checkpoint` entry. Rewriting history before a checkpoint then needs that
//! key; a copy of the checkpoint line kept off the host also catches a log
//! cut back to before it.

use super::{AuditLog, Entry, Event, Head, Op, genesis, read_verified};
use crate::error::{Error, Result};
use crate::keys::{SigAlg, Signer, VerifyingKey, trust::verify_signature};
use std::path::Path;

/// Domain separation for checkpoint signatures.
pub const CHECKPOINT_CONTEXT: &[u8] = b"otaseal v1 audit checkpoint\0";

/// The bytes a checkpoint signs: context || be64(entries) || head hash.
pub fn checkpoint_message(head: &Head) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_CONTEXT.len() + 40);
    m.extend_from_slice(CHECKPOINT_CONTEXT);
    m.extend_from_slice(&head.entries.to_be_bytes());
    m.extend_from_slice(&head.hash);
    m
}

/// Verifies the log, signs its head with `signer`, and appends the
/// checkpoint entry. Returns the signed head and the checkpoint's line.
pub fn append_checkpoint(log: &AuditLog, signer: &dyn Signer) -> Result<(Head, u64)> {
    // Never vouch for a log that does not verify.
    super::verify(log.path())?;
    let mut signed = None;
    let written = log.append_with(log.clock.now(), |head| {
        // Under the lock: `head` is the last line, entries appended since
        // the verification above are covered by the chain up to it.
        let signature = signer.sign(&checkpoint_message(head))?;
        signed = Some(*head);
        Ok(Event::ok(Op::Checkpoint, signer.key_id())
            .detail("alg", signer.algorithm().to_string())
            .detail("entries", head.entries)
            .detail("head", hex::encode(head.hash))
            .detail("signature", hex::encode(signature)))
    })?;
    Ok((signed.expect("set by the closure"), written.entries))
}

/// What checkpoint verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointReport {
    /// Lines of the checkpoint entries found, in order.
    pub lines: Vec<u64>,
    /// Entries after the last checkpoint (not yet anchored).
    pub unanchored: u64,
}

/// Verifies the log's chain and every checkpoint in it: each must sign the
/// head just before it, with a key in `keys` when `keys` is not empty. Each
/// of `expected` (checkpoint lines kept off the host) must be present at
/// its position, unchanged.
pub fn verify_with_checkpoints(
    path: &Path,
    keys: &[VerifyingKey],
    expected: &[Entry],
) -> Result<(Head, CheckpointReport)> {
    let (entries, head) = read_verified(path)?;
    let bad = |line: u64, reason: String| Error::AuditLog {
        path: path.to_owned(),
        line,
        reason,
    };
    let mut lines = Vec::new();
    // Hash of line i-1 is entry i's `prev`, already chain-checked.
    for (i, e) in entries.iter().enumerate() {
        if e.op != Op::Checkpoint.as_str() {
            continue;
        }
        let line = e.seq;
        let field = |name: &str| e.detail.get(name).and_then(|v| v.as_str());
        let count = e.detail.get("entries").and_then(serde_json::Value::as_u64);
        let (Some(count), Some(head_hex), Some(sig_hex), Some(key)) =
            (count, field("head"), field("signature"), e.key_id())
        else {
            return Err(bad(
                line,
                "checkpoint entry lacks entries, head, signature or key".into(),
            ));
        };
        let prev_hash = if i == 0 {
            genesis()
        } else {
            let mut h = [0u8; 32];
            hex::decode_to_slice(&e.prev, &mut h).map_err(|_| bad(line, "bad prev".into()))?;
            h
        };
        let mut signed_head = [0u8; 32];
        if count != line - 1
            || hex::decode_to_slice(head_hex, &mut signed_head).is_err()
            || signed_head != prev_hash
        {
            return Err(bad(
                line,
                format!(
                    "checkpoint signs entries 1..={count} with a head that is not this log's line {}",
                    line - 1
                ),
            ));
        }
        let signature =
            hex::decode(sig_hex).map_err(|_| bad(line, "signature is not hex".into()))?;
        let message = checkpoint_message(&Head {
            entries: count,
            hash: signed_head,
        });
        if !keys.is_empty() {
            let Some(k) = keys.iter().find(|k| k.key_id() == key) else {
                return Err(bad(
                    line,
                    format!("checkpoint signed by {key}, not a --checkpoint-key"),
                ));
            };
            verify_signature(SigAlg::Ed25519, &k.to_bytes(), &message, &signature)
                .map_err(|_| bad(line, format!("checkpoint signature by {key} is invalid")))?;
        }
        lines.push(line);
    }
    for want in expected {
        match entries.get((want.seq as usize).wrapping_sub(1)) {
            Some(have) if have == want => {}
            Some(_) => {
                return Err(bad(
                    want.seq,
                    "differs from the checkpoint kept off the host (history rewritten)".into(),
                ));
            }
            None => {
                return Err(bad(
                    want.seq,
                    format!(
                        "the log has only {} entries but a kept checkpoint is entry {} (log cut)",
                        entries.len(),
                        want.seq
                    ),
                ));
            }
        }
    }
    let unanchored = head.entries - lines.last().copied().unwrap_or(0);
    Ok((head, CheckpointReport { lines, unanchored }))
}

/// Parses a checkpoint line kept off the host (`audit checkpoint --out`).
pub fn parse_checkpoint_line(text: &str) -> std::result::Result<Entry, String> {
    let e: Entry = serde_json::from_str(text.trim()).map_err(|e| e.to_string())?;
    if e.op != Op::Checkpoint.as_str() {
        return Err(format!("entry {} is a `{}`, not a checkpoint", e.seq, e.op));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyId, SigningKey};

    #[test]
    fn checkpoints_anchor_history() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let log = AuditLog::new(&path);
        let auditor = SigningKey::from_bytes(&[9; 32]);
        for i in 0..3u8 {
            log.append(&Event::ok(Op::Sign, KeyId([i; 16]))).unwrap();
        }
        let (head, line) = append_checkpoint(&log, &auditor).unwrap();
        assert_eq!((head.entries, line), (3, 4));
        log.append(&Event::ok(Op::Sign, KeyId([7; 16]))).unwrap();
        let keys = [auditor.verifying_key()];
        let (_, report) = verify_with_checkpoints(&path, &keys, &[]).unwrap();
        assert_eq!(report.lines, [4]);
        assert_eq!(report.unanchored, 1);
        let kept: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let kept_cp = parse_checkpoint_line(&kept[3]).unwrap();
        verify_with_checkpoints(&path, &keys, std::slice::from_ref(&kept_cp)).unwrap();

        // A wrong key is refused.
        let other = [SigningKey::from_bytes(&[8; 32]).verifying_key()];
        assert!(verify_with_checkpoints(&path, &other, &[]).is_err());

        // A full rewrite of history (edit line 2, re-chain every later line)
        // keeps the chain valid but breaks the signed checkpoint.
        let mut lines = kept.clone();
        lines[1] = lines[1].replace("\"outcome\":\"ok\"", "\"outcome\":\"failed\"");
        let mut prev = crate::audit::line_hash(lines[1].as_bytes());
        for l in lines.iter_mut().skip(2) {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["prev"] = serde_json::json!(hex::encode(prev));
            // Keep the writer's field order by re-serializing through Entry order.
            *l = format!(
                r#"{{"seq":{},"ts":{},"op":{},"key":{},"outcome":{},"detail":{},"prev":{}}}"#,
                v["seq"], v["ts"], v["op"], v["key"], v["outcome"], v["detail"], v["prev"]
            );
            prev = crate::audit::line_hash(l.as_bytes());
        }
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        crate::audit::verify(&path).unwrap();
        let err = verify_with_checkpoints(&path, &keys, &[]).unwrap_err();
        assert!(matches!(err, Error::AuditLog { line: 4, .. }), "{err}");

        // A log cut back before a kept checkpoint.
        std::fs::write(&path, kept[..2].join("\n") + "\n").unwrap();
        let err = verify_with_checkpoints(&path, &keys, &[kept_cp]).unwrap_err();
        assert!(err.to_string().contains("log cut"), "{err}");
    }
}
