//! Topic names, filters and matching (MQTT 3.1.1 §4.7, including the
//! examples of §4.7.1–4.7.2).

use proptest::prelude::*;
use yufu_mqtt::{Error, topic_matches, validate_filter, validate_topic_name};

#[test]
fn matching_table() {
    let cases = [
        // (filter, topic, matches)
        (
            "v1/devices/me/rpc/request/+",
            "v1/devices/me/rpc/request/17",
            true,
        ),
        (
            "v1/devices/me/rpc/request/+",
            "v1/devices/me/rpc/request",
            false,
        ),
        (
            "v1/devices/me/rpc/request/+",
            "v1/devices/me/rpc/request/17/x",
            false,
        ),
        ("v1/devices/me/attributes", "v1/devices/me/attributes", true),
        (
            "v1/devices/me/attributes",
            "v1/devices/me/attributes/response/1",
            false,
        ),
        (
            "v1/devices/me/attributes/response/+",
            "v1/devices/me/attributes/response/1",
            true,
        ),
        ("v1/gateway/#", "v1/gateway/rpc", true),
        // `#` covers the parent level and every child.
        ("sport/tennis/player1/#", "sport/tennis/player1", true),
        (
            "sport/tennis/player1/#",
            "sport/tennis/player1/ranking",
            true,
        ),
        (
            "sport/tennis/player1/#",
            "sport/tennis/player1/score/wimbledon",
            true,
        ),
        ("sport/#", "sport", true),
        ("a/#", "a", true),
        ("a/#", "a/", true),
        ("a/#", "ab", false),
        ("a/#", "b/a", false),
        ("#", "a", true),
        ("#", "/", true),
        ("#", "a/b/c", true),
        // `+` is exactly one level, possibly empty.
        ("sport/tennis/+", "sport/tennis/player1", true),
        ("sport/tennis/+", "sport/tennis/player1/ranking", false),
        ("sport/+", "sport", false),
        ("sport/+", "sport/", true),
        ("+", "a", true),
        ("+", "a/b", false),
        ("+", "/a", false),
        ("+/+", "/finance", true),
        ("/+", "/finance", true),
        ("+", "/finance", false),
        ("+/tennis/#", "sport/tennis/player1", true),
        ("+/+/+", "a/b/c", true),
        ("+/+/+", "a/b", false),
        // `$` topics are not matched by a leading wildcard.
        ("#", "$SYS/x", false),
        ("#", "$SYS", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false),
        ("+", "$SYS", false),
        ("$SYS/#", "$SYS/x", true),
        ("$SYS/#", "$SYS", true),
        ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
        ("a/#", "a/$b", true),
        ("a/+", "a/$b", true),
        // Literal levels, case-sensitive.
        ("ACCOUNTS", "Accounts", false),
        ("a/b", "a/b/", false),
        ("a/b", "a//b", false),
        ("/", "/", true),
        // Not handled here: shared subscriptions are literal text.
        ("$share/g/a", "a", false),
    ];
    for (filter, topic, expected) in cases {
        assert_eq!(
            topic_matches(filter, topic),
            expected,
            "{filter:?} vs {topic:?}"
        );
    }
}

#[test]
fn topic_names() {
    for ok in [
        "a",
        "/",
        "a/b",
        "$SYS/x",
        "v1/devices/me/telemetry",
        "电表/1",
        " ",
    ] {
        assert_eq!(validate_topic_name(ok), Ok(()), "{ok:?}");
    }
    assert_eq!(
        validate_topic_name(""),
        Err(Error::InvalidTopicName("empty"))
    );
    for wildcard in ["+", "#", "a/+", "a/#", "a+b", "a#"] {
        assert_eq!(
            validate_topic_name(wildcard),
            Err(Error::InvalidTopicName("contains a wildcard")),
            "{wildcard:?}"
        );
    }
    assert_eq!(validate_topic_name("a\0b"), Err(Error::NulCharacter));
    assert_eq!(validate_topic_name(&"x".repeat(65_535)), Ok(()));
    assert_eq!(
        validate_topic_name(&"x".repeat(65_536)),
        Err(Error::StringTooLong)
    );
}

#[test]
fn filters() {
    for ok in [
        "a",
        "#",
        "+",
        "/",
        "+/+",
        "/+",
        "a/#",
        "a/+/b",
        "+/#",
        "$SYS/#",
        "a//b",
        "$share/g/a/#",
        "v1/devices/me/rpc/request/+",
    ] {
        assert_eq!(validate_filter(ok), Ok(()), "{ok:?}");
    }
    assert_eq!(validate_filter(""), Err(Error::InvalidFilter("empty")));
    for (bad, reason) in [
        ("a#", "`#` must be a whole level"),
        ("a/b#", "`#` must be a whole level"),
        ("##", "`#` must be a whole level"),
        ("#/a", "`#` must be the last level"),
        ("a/#/b", "`#` must be the last level"),
        ("#/", "`#` must be the last level"),
        ("a+", "`+` must be a whole level"),
        ("sport+", "`+` must be a whole level"),
        ("a/+b/c", "`+` must be a whole level"),
        ("++", "`+` must be a whole level"),
    ] {
        assert_eq!(
            validate_filter(bad),
            Err(Error::InvalidFilter(reason)),
            "{bad:?}"
        );
    }
    assert_eq!(validate_filter("a/\0"), Err(Error::NulCharacter));
    assert_eq!(
        validate_filter(&"x".repeat(65_536)),
        Err(Error::StringTooLong)
    );
}

proptest! {
    /// A topic name used as a filter matches itself, and only itself among
    /// names that differ.
    #[test]
    fn a_name_matches_itself(topic in "[^+#\\x00]{1,20}", other in "[^+#\\x00]{1,20}") {
        prop_assert!(topic_matches(&topic, &topic));
        prop_assert_eq!(topic_matches(&topic, &other), topic == other);
    }

    /// Replacing any levels with `+`, or any suffix with `#`, still matches,
    /// unless a leading wildcard meets a `$` topic.
    #[test]
    fn wildcards_generalise(
        levels in prop::collection::vec("[a-z$]{0,3}", 1..6)
            .prop_filter("a topic name is not empty", |levels| !levels.join("/").is_empty()),
        plus in prop::collection::vec(any::<bool>(), 6),
        hash_at in any::<prop::sample::Index>(),
    ) {
        let topic = levels.join("/");
        let dollar = topic.starts_with('$');
        let with_plus: Vec<&str> = levels
            .iter()
            .zip(&plus)
            .map(|(level, &p)| if p { "+" } else { level.as_str() })
            .collect();
        let filter = with_plus.join("/");
        prop_assert_eq!(validate_filter(&filter), Ok(()));
        prop_assert_eq!(topic_matches(&filter, &topic), !(dollar && plus[0]));

        // `#` in place of the levels from `cut` on (cut may be the end: the
        // parent level then matches too).
        let cut = hash_at.index(levels.len() + 1);
        let mut hashed: Vec<&str> = levels[..cut].iter().map(String::as_str).collect();
        hashed.push("#");
        let filter = hashed.join("/");
        prop_assert_eq!(validate_filter(&filter), Ok(()));
        prop_assert_eq!(topic_matches(&filter, &topic), !(dollar && cut == 0));
    }

    #[test]
    fn arbitrary_strings_never_panic(filter in "\\PC{0,12}", topic in "\\PC{0,12}") {
        let _ = topic_matches(&filter, &topic);
        let _ = validate_filter(&filter);
        let _ = validate_topic_name(&topic);
    }
}
