#![allow(clippy::unwrap_used)]

mod common;

use common::vault;
use proptest::prelude::*;
use yufu_vault::Vault;

const BASE64_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";

proptest! {
    #[test]
    fn seal_open_round_trip(plaintext in any::<String>(), aad in any::<String>()) {
        let v = vault(&[("a", 1), ("b", 2)]);
        let sealed = v.seal(&plaintext, &aad).unwrap();
        prop_assert!(sealed.is_ascii());
        prop_assert!(v.is_current(&sealed));
        prop_assert_eq!(v.open(&sealed, &aad).unwrap(), plaintext.clone());
        let resealed = v.reseal(&sealed, &aad).unwrap();
        prop_assert_eq!(v.open(&resealed, &aad).unwrap(), plaintext);
    }

    #[test]
    fn other_aad_never_opens(plaintext in any::<String>(), aad in any::<String>(), other in any::<String>()) {
        prop_assume!(aad != other);
        let v = vault(&[("a", 1)]);
        let sealed = v.seal(&plaintext, &aad).unwrap();
        prop_assert!(v.open(&sealed, &other).is_err());
    }

    #[test]
    fn open_never_panics(input in any::<String>(), aad in any::<String>()) {
        let v = vault(&[("a", 1)]);
        let _ = v.open(&input, &aad);
        let _ = v.open(&format!("yv1:a:{input}"), &aad);
        let _ = v.reseal(&format!("yv1:{input}"), &aad);
        let _ = Vault::key_id_of(&input);
        let _ = v.is_current(&input);
    }

    #[test]
    fn key_file_parsing_never_panics(input in any::<String>()) {
        let _ = Vault::from_key_text(&input);
    }

    #[test]
    fn any_changed_character_fails(
        plaintext in any::<String>(),
        position in any::<prop::sample::Index>(),
        replacement in prop::sample::select(BASE64_CHARS),
    ) {
        let v = vault(&[("a", 1)]);
        let sealed = v.seal(&plaintext, "t").unwrap();
        let start = "yv1:a:".len();
        let at = start + position.index(sealed.len() - start);
        prop_assume!(sealed.as_bytes()[at] != replacement);
        let mut bytes = sealed.into_bytes();
        bytes[at] = replacement;
        let tampered = String::from_utf8(bytes).unwrap();
        prop_assert!(v.open(&tampered, "t").is_err(), "{}", tampered);
    }
}
