//! Device-API topics: `Topic::parse` on any UTF-8 text (MQTT topic names
//! are UTF-8; other bytes never reach the parser), plus the shared
//! subscription check.
//!
//! Beyond "never panics", every input checks what the crate promises:
//! a parsed topic formats back to exactly the input (`Display`,
//! `as_string`), `FromStr` agrees with `parse`, request ids appear in the
//! text, and `try_shared_subscription` accepts exactly the groups that are
//! non-empty and free of `/`, `+` and `#`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yufu_devapi::{Topic, shared_subscription, try_shared_subscription};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = Topic::parse(text);
    assert_eq!(
        text.parse::<Topic>(),
        parsed,
        "FromStr disagrees with parse"
    );
    if let Ok(topic) = parsed {
        assert_eq!(topic.to_string(), text, "topic does not format back");
        assert_eq!(topic.as_string(), text, "as_string differs");
        assert_eq!(topic.is_gateway(), text.starts_with("v1/gateway/"));
        if let Some(id) = topic.request_id() {
            assert!(text.ends_with(&format!("/{id}")), "id {id} not in {text}");
        }
    }

    // The first line as the group, the rest as the filter.
    let (group, filter) = text.split_once('\n').unwrap_or((text, ""));
    let valid = !group.is_empty() && !group.contains(['/', '+', '#']);
    match try_shared_subscription(group, filter) {
        Ok(shared) => {
            assert!(valid, "bad group {group:?} accepted");
            assert_eq!(shared, shared_subscription(group, filter));
            assert_eq!(shared, format!("$share/{group}/{filter}"));
        }
        Err(_) => assert!(!valid, "good group {group:?} refused"),
    }
});
