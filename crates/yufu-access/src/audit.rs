//! The audit log's hash chain. Each row's hash covers its predecessor's hash
//! and its own fields, so editing a row changes its hash (the next row's
//! `prev_hash` no longer matches) and deleting one leaves a gap in `seq`.
//!
//! What the chain alone cannot show: the newest rows cut off the end. The
//! head (last `seq` and hash) is therefore also reported by `yufu audit
//! verify`, for operators who copy it somewhere else (a ticket, a second
//! system) and compare.

use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit row as stored. `before` and `after` are JSON texts.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize)]
pub struct AuditEntry {
    /// 1, 2, 3, … without gaps.
    pub seq: i64,
    pub at_ms: i64,
    /// `user:NAME`, `token:NAME`, `customer:ID`, `cli:USER`, `anonymous`.
    pub actor: String,
    /// The client address, or `cli`.
    pub source: String,
    /// What was done, e.g. `POST /api/v1/accounts/{id}/recharges`.
    pub action: String,
    /// The thing it was done to, e.g. `account:0190…`.
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    /// The HTTP status answered (0 for CLI actions).
    pub status: i32,
    pub prev_hash: String,
    pub hash: String,
}

/// The fields of a row about to be appended (the log assigns `seq` and hashes).
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct NewAuditEntry {
    pub at_ms: i64,
    pub actor: String,
    pub source: String,
    pub action: String,
    pub target: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub status: i32,
}

impl NewAuditEntry {
    /// The stored row that follows `prev` (`None`: the first row).
    pub fn chain(self, prev: Option<(i64, &str)>) -> AuditEntry {
        let (seq, prev_hash) = match prev {
            Some((seq, hash)) => (seq + 1, hash.to_owned()),
            None => (1, GENESIS.to_owned()),
        };
        let mut e = AuditEntry {
            seq,
            at_ms: self.at_ms,
            actor: self.actor,
            source: self.source,
            action: self.action,
            target: self.target,
            before: self.before,
            after: self.after,
            status: self.status,
            prev_hash,
            hash: String::new(),
        };
        e.hash = link_hash(&e);
        e
    }
}

/// SHA-256 over the previous hash and every field, each length-prefixed so
/// no two different rows encode alike (`"ab","c"` vs `"a","bc"`).
pub fn link_hash(e: &AuditEntry) -> String {
    let mut h = Sha256::new();
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    };
    field(e.prev_hash.as_bytes());
    field(&e.seq.to_be_bytes());
    field(&e.at_ms.to_be_bytes());
    field(e.actor.as_bytes());
    field(e.source.as_bytes());
    field(e.action.as_bytes());
    field(e.target.as_bytes());
    for opt in [&e.before, &e.after] {
        match opt {
            None => field(b"\x00"),
            Some(s) => field(&[b"\x01", s.as_bytes()].concat()),
        }
    }
    field(&e.status.to_be_bytes());
    hex::encode(h.finalize())
}

/// The first row that breaks the chain.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {reason}")]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: String,
}

/// Walks rows in `seq` order, page by page, keeping what it needs to check
/// the next one.
#[derive(Clone, Debug)]
pub struct Verifier {
    next_seq: i64,
    prev_hash: String,
    checked: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            next_seq: 1,
            prev_hash: GENESIS.to_owned(),
            checked: 0,
        }
    }
}

impl Verifier {
    pub fn check(&mut self, e: &AuditEntry) -> Result<(), BrokenLink> {
        let broken = |reason: String| BrokenLink { seq: e.seq, reason };
        if e.seq != self.next_seq {
            return Err(BrokenLink {
                seq: self.next_seq,
                reason: format!(
                    "row {} is missing (the next row present is {})",
                    self.next_seq, e.seq
                ),
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(broken(format!(
                "prev_hash does not match the hash of row {}: row {} was changed or removed",
                e.seq - 1,
                e.seq - 1
            )));
        }
        let want = link_hash(e);
        if e.hash != want {
            return Err(broken(format!(
                "the row's contents do not match its hash: row {} was edited",
                e.seq
            )));
        }
        self.next_seq += 1;
        self.prev_hash.clone_from(&e.hash);
        self.checked += 1;
        Ok(())
    }

    /// Rows checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The last good hash (the head after a full walk).
    pub fn head(&self) -> &str {
        &self.prev_hash
    }
}

/// Verifies a whole chain held in memory.
pub fn verify_chain<'a>(rows: impl IntoIterator<Item = &'a AuditEntry>) -> Result<u64, BrokenLink> {
    let mut v = Verifier::default();
    for r in rows {
        v.check(r)?;
    }
    Ok(v.checked())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let e = NewAuditEntry {
                at_ms: 1_000 + i64::try_from(i).unwrap(),
                actor: "user:admin".into(),
                source: "10.0.0.1".into(),
                action: "POST /api/v1/accounts".into(),
                target: format!("account:{i}"),
                before: None,
                after: Some(format!("{{\"n\":{i}}}")),
                status: 201,
            };
            let prev = out.last().map(|p| (p.seq, p.hash.as_str()));
            let row = e.chain(prev);
            out.push(row);
        }
        out
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify_chain(&chain(5)).unwrap(), 5);
        assert_eq!(verify_chain(&[]).unwrap(), 0);
    }

    #[test]
    fn an_edited_row_is_the_first_broken_link() {
        let mut rows = chain(5);
        rows[2].after = Some("{\"n\":999}".into());
        let err = verify_chain(&rows).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.reason.contains("edited"), "{err}");
    }

    #[test]
    fn an_edited_row_with_a_recomputed_hash_breaks_the_next_link() {
        let mut rows = chain(5);
        rows[1].actor = "user:someone-else".into();
        rows[1].hash = link_hash(&rows[1]);
        let err = verify_chain(&rows).unwrap_err();
        assert_eq!(err.seq, 3);
    }

    #[test]
    fn a_deleted_row_is_reported_by_its_seq() {
        let mut rows = chain(5);
        rows.remove(3);
        let err = verify_chain(&rows).unwrap_err();
        assert_eq!(err.seq, 4);
        assert!(err.reason.contains("missing"), "{err}");
    }

    #[test]
    fn field_boundaries_matter() {
        let a = chain(1);
        let mut b = a.clone();
        b[0].actor = "user:admin1".into();
        b[0].source = "0.0.0.1".into();
        assert_ne!(link_hash(&a[0]), link_hash(&b[0]));
        let mut c = a.clone();
        c[0].before = Some(String::new());
        assert_ne!(link_hash(&a[0]), link_hash(&c[0]));
    }

    proptest! {
        #[test]
        fn any_single_field_change_is_detected(n in 2usize..8, which in 0usize..8, field in 0u8..6, text in ".{0,12}") {
            let mut rows = chain(n);
            let i = which % n;
            let before = rows[i].clone();
            match field {
                0 => rows[i].actor.push_str(&text),
                1 => rows[i].action.push('x'),
                2 => rows[i].target = format!("{}{text}", rows[i].target),
                3 => rows[i].at_ms += 1,
                4 => rows[i].status += 1,
                _ => rows[i].before = Some(text.clone()),
            }
            prop_assume!(rows[i] != before);
            prop_assert_eq!(verify_chain(&rows).unwrap_err().seq, rows[i].seq);
        }
    }
}
