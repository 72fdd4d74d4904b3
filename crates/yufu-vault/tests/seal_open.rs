#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{key_b64, key_line, vault};
use yufu_vault::{Vault, VaultError};

const AAD: &str = "customers.address:42";

fn body(sealed: &str) -> Vec<u8> {
    let encoded = sealed.rsplit(':').next().unwrap();
    STANDARD.decode(encoded).unwrap()
}

#[test]
fn round_trips() {
    let v = vault(&[("a", 1)]);
    let long_address =
        "广东省深圳市南山区粤海街道科技园南区高新南七道 18 号 A 栋 1203 室；".repeat(200);
    for text in [
        "张伟",
        "",
        "13800138000",
        "O'Brien \"quoted\" \n\t\0",
        &long_address,
    ] {
        let sealed = v.seal(text, AAD).unwrap();
        assert!(sealed.is_ascii());
        assert_eq!(v.open(&sealed, AAD).unwrap(), text);
    }
}

#[test]
fn envelope_format() {
    let v = vault(&[("k2026_a-1", 1)]);
    let sealed = v.seal("李娜", AAD).unwrap();
    assert!(sealed.starts_with("yv1:k2026_a-1:"), "{sealed}");
    // nonce + ciphertext (same length as the UTF-8 plaintext) + tag
    assert_eq!(body(&sealed).len(), 12 + "李娜".len() + 16);
    assert!(Vault::is_sealed(&sealed));
    assert_eq!(Vault::key_id_of(&sealed), Some("k2026_a-1"));
}

#[test]
fn same_text_seals_differently() {
    let v = vault(&[("a", 1)]);
    let one = v.seal("王芳", AAD).unwrap();
    let two = v.seal("王芳", AAD).unwrap();
    assert_ne!(one, two);
    assert_ne!(body(&one)[..12], body(&two)[..12], "nonces must differ");
    assert_eq!(v.open(&one, AAD).unwrap(), "王芳");
    assert_eq!(v.open(&two, AAD).unwrap(), "王芳");
}

#[test]
fn wrong_aad_fails() {
    let v = vault(&[("a", 1)]);
    let sealed = v.seal("13800138000", "customers.phone:1").unwrap();
    for aad in [
        "customers.phone:2",
        "customers.id_number:1",
        "",
        "customers.phone:1 ",
    ] {
        assert!(
            matches!(v.open(&sealed, aad), Err(VaultError::Corrupt(_))),
            "{aad:?}"
        );
    }
}

#[test]
fn every_flipped_byte_fails() {
    let v = vault(&[("a", 1)]);
    let sealed = v.seal("北京市朝阳区", AAD).unwrap();
    let original = body(&sealed);
    for i in 0..original.len() {
        let mut tampered = original.clone();
        tampered[i] ^= 0x01;
        let envelope = format!("yv1:a:{}", STANDARD.encode(&tampered));
        assert!(
            matches!(v.open(&envelope, AAD), Err(VaultError::Corrupt(_))),
            "byte {i}"
        );
    }
}

#[test]
fn malformed_envelopes_are_corrupt() {
    let v = vault(&[("a", 1)]);
    let sealed = v.seal("x", AAD).unwrap();
    let encoded = sealed.strip_prefix("yv1:a:").unwrap();
    let short = STANDARD.encode([0u8; 27]);
    for bad in [
        "yv1:a".to_owned(),
        "yv1:".to_owned(),
        "yv1::".to_owned(),
        "yv1:a:".to_owned(),
        "yv1:a:!!!!".to_owned(),
        format!("yv1:a:{}", &encoded[..encoded.len() - 4]),
        format!("yv1:a:{encoded}x"),
        format!("yv1:a:{short}"),
        format!("yv1:a b:{encoded}"),
    ] {
        assert!(
            matches!(v.open(&bad, AAD), Err(VaultError::Corrupt(_))),
            "{bad:?}: {:?}",
            v.open(&bad, AAD)
        );
    }
}

#[test]
fn unknown_key_and_not_sealed() {
    let v = vault(&[("a", 1)]);
    let other = vault(&[("zz", 2)]);
    let sealed = other.seal("x", AAD).unwrap();
    assert_eq!(
        v.open(&sealed, AAD),
        Err(VaultError::UnknownKey("zz".to_owned()))
    );
    assert_eq!(v.open("张伟", AAD), Err(VaultError::NotSealed));
    assert_eq!(v.open("", AAD), Err(VaultError::NotSealed));
    assert_eq!(v.open("YV1:a:xx", AAD), Err(VaultError::NotSealed));
}

#[test]
fn same_id_different_key_fails() {
    // A key file whose line was replaced (not appended) must not open data.
    let sealed = vault(&[("a", 1)]).seal("x", AAD).unwrap();
    assert!(matches!(
        vault(&[("a", 2)]).open(&sealed, AAD),
        Err(VaultError::Corrupt(_))
    ));
}

#[test]
fn rotation() {
    let old = vault(&[("a", 1)]);
    let both = vault(&[("a", 1), ("b", 2)]);
    let new_only = vault(&[("b", 2)]);
    assert_eq!(both.active_key_id(), "b");
    assert_eq!(both.key_ids(), ["a", "b"]);

    let a_sealed = old.seal("赵敏 13900139000", AAD).unwrap();
    assert!(old.is_current(&a_sealed));
    assert!(!both.is_current(&a_sealed));
    assert_eq!(both.open(&a_sealed, AAD).unwrap(), "赵敏 13900139000");

    let b_sealed = both.reseal(&a_sealed, AAD).unwrap();
    assert_eq!(Vault::key_id_of(&b_sealed), Some("b"));
    assert!(both.is_current(&b_sealed));
    assert_eq!(both.open(&b_sealed, AAD).unwrap(), "赵敏 13900139000");
    assert_eq!(new_only.open(&b_sealed, AAD).unwrap(), "赵敏 13900139000");

    assert_eq!(
        new_only.open(&a_sealed, AAD),
        Err(VaultError::UnknownKey("a".to_owned()))
    );
    assert_eq!(
        new_only.reseal(&a_sealed, AAD),
        Err(VaultError::UnknownKey("a".to_owned()))
    );
    // Resealing keeps the AAD binding.
    assert!(both.reseal(&a_sealed, "customers.address:43").is_err());
}

#[test]
fn reseal_seals_plaintext() {
    let v = vault(&[("a", 1), ("b", 2)]);
    assert!(!v.is_current("legacy plaintext"));
    let sealed = v.reseal("legacy plaintext", AAD).unwrap();
    assert!(v.is_current(&sealed));
    assert_eq!(v.open(&sealed, AAD).unwrap(), "legacy plaintext");
}

#[test]
fn envelope_inspection() {
    assert!(!Vault::is_sealed("13800138000"));
    assert!(!Vault::is_sealed("yv2:a:AAAA"));
    assert!(Vault::is_sealed("yv1:whatever"));
    assert_eq!(Vault::key_id_of("yv1:k1:AAAA"), Some("k1"));
    assert_eq!(Vault::key_id_of("yv1:k1"), None);
    assert_eq!(Vault::key_id_of("yv1::AAAA"), None);
    assert_eq!(Vault::key_id_of("yv1:a.b:AAAA"), None);
    assert_eq!(Vault::key_id_of("plain"), None);
}

#[test]
fn generated_key_lines() {
    let one = Vault::generate_key_line("k2027a").unwrap();
    let two = Vault::generate_key_line("k2027b").unwrap();
    assert!(one.starts_with("k2027a:"));
    assert_ne!(one["k2027a:".len()..], two["k2027b:".len()..]);
    let v = Vault::from_key_text(&format!("{one}\n{two}\n")).unwrap();
    assert_eq!(v.key_ids(), ["k2027a", "k2027b"]);
    let sealed = v.seal("x", AAD).unwrap();
    assert_eq!(v.open(&sealed, AAD).unwrap(), "x");
    for bad in ["", "a:b", "has space", &"k".repeat(33)] {
        assert_eq!(
            Vault::generate_key_line(bad),
            Err(VaultError::BadKeyId(bad.to_owned()))
        );
    }
}

#[test]
fn debug_reveals_no_key_material() {
    let text = format!("{}\n{}\n", key_line("old", 7), key_line("new", 9));
    let v = Vault::from_key_text(&text).unwrap();
    let debug = format!("{v:?}");
    let pretty = format!("{v:#?}");
    for seed in [7u8, 9] {
        let b64 = key_b64(seed);
        for out in [&debug, &pretty] {
            assert!(!out.contains(&b64), "{out}");
            assert!(!out.contains(&b64[..12]), "{out}");
        }
    }
    // Raw bytes would print as decimal arrays: 7, 8, 9, ...
    assert!(!debug.contains("7, 8, 9"), "{debug}");
    assert!(
        debug.contains("\"old\"") && debug.contains("\"new\""),
        "{debug}"
    );
}

#[test]
fn errors_reveal_no_key_or_plaintext() {
    let b64 = key_b64(3);
    let bad = format!("a:{}", &b64[..40]);
    let err = Vault::from_key_text(&bad).unwrap_err();
    assert!(!err.to_string().contains(&b64[..20]), "{err}");
    assert!(!format!("{err:?}").contains(&b64[..20]), "{err:?}");

    let v = vault(&[("a", 1)]);
    let sealed = v.seal("secret-plaintext", AAD).unwrap();
    let err = v.open(&sealed, "other").unwrap_err();
    assert!(!format!("{err} {err:?}").contains("secret-plaintext"));
}

#[test]
fn opens_envelope_made_by_another_implementation() {
    // Made with Python's `cryptography` AESGCM: key = bytes 1..=32,
    // nonce = bytes 100..112, AAD "customers.name:7". Pins the envelope
    // layout (nonce first, tag last, standard base64).
    let v = vault(&[("a", 1)]);
    let sealed = "yv1:a:ZGVmZ2hpamtsbW5vhePTqC0d9dLrKe5mdOPPhLEwKkYrHQ==";
    assert_eq!(v.open(sealed, "customers.name:7").unwrap(), "张伟");
    assert!(v.open(sealed, "customers.name:8").is_err());
}
