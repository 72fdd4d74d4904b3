#![allow(clippy::unwrap_used)]

mod common;

use common::vault;
use yufu_vault::{normalize_id_number, normalize_phone};

const PHONE: &str = "customers.phone";

#[test]
fn phone_formats_index_equal() {
    let v = vault(&[("a", 1)]);
    let expected = v.blind_index(PHONE, "13800138000");
    for raw in [
        "13800138000",
        "+86 138-0013-8000",
        "0086 138 0013 8000",
        "86-13800138000",
        "１３８００１３８０００",
    ] {
        assert_eq!(
            v.blind_index(PHONE, &normalize_phone(raw)),
            expected,
            "{raw}"
        );
    }
    assert_ne!(
        v.blind_index(PHONE, &normalize_phone("13800138001")),
        expected
    );
}

#[test]
fn id_numbers_index_equal() {
    let v = vault(&[("a", 1)]);
    assert_eq!(
        v.blind_index(
            "customers.id_number",
            &normalize_id_number("11010519491231002x ")
        ),
        v.blind_index(
            "customers.id_number",
            &normalize_id_number("11010519491231002X")
        ),
    );
}

#[test]
fn shape_and_determinism() {
    let v = vault(&[("a", 1)]);
    let index = v.blind_index(PHONE, "13800138000");
    assert_eq!(index.len(), 32);
    assert!(
        index
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{index}"
    );
    assert_eq!(index, v.blind_index(PHONE, "13800138000"));
    assert_eq!(index, vault(&[("a", 1)]).blind_index(PHONE, "13800138000"));
    assert_eq!(v.blind_index(PHONE, "").len(), 32);
}

#[test]
fn fields_separate() {
    let v = vault(&[("a", 1)]);
    assert_ne!(
        v.blind_index("customers.phone", "13800138000"),
        v.blind_index("customers.contact_phone", "13800138000")
    );
    // The NUL separator keeps field/value boundaries apart.
    assert_ne!(v.blind_index("ab", "c"), v.blind_index("a", "bc"));
}

#[test]
fn keys_separate_and_active_key_is_used() {
    let a = vault(&[("a", 1)]);
    let b = vault(&[("b", 2)]);
    let ab = vault(&[("a", 1), ("b", 2)]);
    let value = "13800138000";
    assert_ne!(a.blind_index(PHONE, value), b.blind_index(PHONE, value));
    // Depends on key bytes, not the id.
    assert_ne!(
        a.blind_index(PHONE, value),
        vault(&[("a", 2)]).blind_index(PHONE, value)
    );
    assert_eq!(ab.blind_index(PHONE, value), b.blind_index(PHONE, value));
}

#[test]
fn known_answer() {
    // HMAC-SHA256(HMAC-SHA256(key, "yufu blind index v1"), field || 0 || value),
    // key = bytes 1..=32. Pinned so the scheme cannot change silently: every
    // stored index would stop matching.
    let v = vault(&[("a", 1)]);
    assert_eq!(
        v.blind_index(PHONE, "13800138000"),
        "36687db02ab3b5dd3f2d4fcc51450e00"
    );
}

#[test]
fn candidates_cover_all_keys_active_first() {
    let a = vault(&[("a", 1)]);
    let b = vault(&[("b", 2)]);
    let c = vault(&[("c", 3)]);
    let abc = vault(&[("a", 1), ("b", 2), ("c", 3)]);
    let value = "13800138000";
    assert_eq!(
        abc.blind_index_candidates(PHONE, value),
        [
            c.blind_index(PHONE, value),
            b.blind_index(PHONE, value),
            a.blind_index(PHONE, value)
        ]
    );
}
