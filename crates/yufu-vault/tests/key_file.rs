#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE};
use common::{key_b64, key_line};
use yufu_vault::{KeyId, Vault, VaultError};

fn bad_line(text: &str) -> usize {
    match Vault::from_key_text(text) {
        Err(VaultError::BadKeyFile { line, .. }) => line,
        other => panic!("expected BadKeyFile for {text:?}, got {other:?}"),
    }
}

#[test]
fn comments_blank_lines_and_order() {
    let text = format!(
        "\u{FEFF}# yufu customer-data keys\n\n  {}  \r\n# rotated 2026-11\n\t\n{}\r\n   # trailing comment\n",
        key_line("k2025", 1),
        key_line("k2026", 2)
    );
    let v = Vault::from_key_text(&text).unwrap();
    assert_eq!(v.key_ids(), ["k2025", "k2026"]);
    assert_eq!(v.active_key_id(), "k2026");
}

#[test]
fn last_key_is_active() {
    let v = Vault::from_key_text(&format!(
        "{}\n{}\n{}",
        key_line("c", 3),
        key_line("a", 1),
        key_line("b", 2)
    ))
    .unwrap();
    assert_eq!(v.active_key_id(), "b");
    assert_eq!(v.key_ids(), ["c", "a", "b"]);
    let sealed = v.seal("x", "t").unwrap();
    assert_eq!(Vault::key_id_of(&sealed), Some("b"));
}

#[test]
fn no_keys() {
    for text in ["", "\n\n", "# only a comment\n\n   \n# another"] {
        assert_eq!(Vault::from_key_text(text).unwrap_err(), VaultError::NoKeys);
    }
}

#[test]
fn bad_lines_name_their_line() {
    let good = key_line("good", 1);
    let bytes = |n: usize| vec![7u8; n];
    let cases: Vec<(String, &str)> = vec![
        ("a:not base64!".to_owned(), "bad base64"),
        (
            format!("a:{}", URL_SAFE.encode([0xfbu8; 32])),
            "url-safe alphabet",
        ),
        (
            format!("a:{}", STANDARD_NO_PAD.encode(bytes(32))),
            "missing padding",
        ),
        (format!("a:{}", STANDARD.encode(bytes(31))), "31 bytes"),
        (format!("a:{}", STANDARD.encode(bytes(33))), "33 bytes"),
        (format!("a:{}", STANDARD.encode(bytes(16))), "16 bytes"),
        ("a:".to_owned(), "empty key"),
        (key_b64(2), "no id"),
        (format!(":{}", key_b64(2)), "empty id"),
        (format!("a b:{}", key_b64(2)), "space in id"),
        (format!("a.b:{}", key_b64(2)), "dot in id"),
        (format!("键:{}", key_b64(2)), "non-ASCII id"),
        (format!("{}:{}", "k".repeat(33), key_b64(2)), "id too long"),
        ("good:".to_owned() + &key_b64(2), "duplicate id"),
        (format!("a:{} # comment", key_b64(2)), "inline comment"),
    ];
    for (line, what) in &cases {
        let text = format!("# header\n{good}\n\n{line}\n{}\n", key_line("z", 9));
        assert_eq!(bad_line(&text), 4, "{what}");
        let text = format!("{line}\n");
        if *what != "duplicate id" {
            assert_eq!(bad_line(&text), 1, "{what}");
        }
    }
}

#[test]
fn duplicate_reports_second_occurrence() {
    let text = format!(
        "{}\n{}\n{}\n",
        key_line("a", 1),
        key_line("b", 2),
        key_line("a", 3)
    );
    match Vault::from_key_text(&text) {
        Err(VaultError::BadKeyFile { line, reason }) => {
            assert_eq!(line, 3);
            assert!(reason.contains("line 1"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn key_id_rules() {
    let longest = "k".repeat(32);
    for ok in ["a", "A-Z_09", "k2026-11_a", longest.as_str()] {
        assert_eq!(KeyId::new(ok).unwrap().as_str(), ok);
        assert!(Vault::from_key_text(&key_line(ok, 1)).is_ok(), "{ok}");
    }
    for bad in ["", "a:b", "a b", "ä", "a/b", "a\n"] {
        assert_eq!(KeyId::new(bad), Err(VaultError::BadKeyId(bad.to_owned())));
    }
    assert!(KeyId::new(&"k".repeat(33)).is_err());
    assert_eq!(KeyId::new("k1").unwrap().to_string(), "k1");
}
