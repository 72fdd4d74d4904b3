//! Topic names, topic filters and matching (MQTT 3.1.1 §4.7).

use crate::Error;

/// The longest string MQTT can carry: its length prefix is a `u16`.
pub(crate) const MAX_STRING: usize = 65_535;

/// Checks a topic name as used in PUBLISH and in a will: non-empty, at most
/// 65,535 bytes, no `+` or `#`, no U+0000.
///
/// # Errors
/// [`Error::InvalidTopicName`], [`Error::StringTooLong`] or
/// [`Error::NulCharacter`].
pub fn validate_topic_name(topic: &str) -> Result<(), Error> {
    if topic.is_empty() {
        return Err(Error::InvalidTopicName("empty"));
    }
    if topic.len() > MAX_STRING {
        return Err(Error::StringTooLong);
    }
    // One pass over the bytes: this runs for every PUBLISH decoded. The three
    // bytes are ASCII, so they never occur inside a multi-byte UTF-8 sequence.
    for &b in topic.as_bytes() {
        match b {
            0 => return Err(Error::NulCharacter),
            b'+' | b'#' => return Err(Error::InvalidTopicName("contains a wildcard")),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a topic filter as used in SUBSCRIBE and UNSUBSCRIBE: non-empty, at
/// most 65,535 bytes, no U+0000, `+` only as a whole level, `#` only as the
/// whole last level.
///
/// A shared subscription (`$share/{group}/{filter}`) is syntactically a
/// filter too and passes; stripping and checking the group is the caller's
/// business.
///
/// # Errors
/// [`Error::InvalidFilter`], [`Error::StringTooLong`] or
/// [`Error::NulCharacter`].
pub fn validate_filter(filter: &str) -> Result<(), Error> {
    if filter.is_empty() {
        return Err(Error::InvalidFilter("empty"));
    }
    if filter.len() > MAX_STRING {
        return Err(Error::StringTooLong);
    }
    if filter.as_bytes().contains(&0) {
        return Err(Error::NulCharacter);
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') {
            if level != "#" {
                return Err(Error::InvalidFilter("`#` must be a whole level"));
            }
            if levels.peek().is_some() {
                return Err(Error::InvalidFilter("`#` must be the last level"));
            }
        } else if level.contains('+') && level != "+" {
            return Err(Error::InvalidFilter("`+` must be a whole level"));
        }
    }
    Ok(())
}

/// Whether topic name `topic` matches topic filter `filter`.
///
/// * `+` matches exactly one level, which may be empty (`a/+` matches `a/`
///   but not `a` or `a/b/c`).
/// * `#` matches the parent level and any number of child levels (`a/#`
///   matches `a`, `a/b` and `a/b/c`; `#` alone matches every topic).
/// * A filter starting with a wildcard does not match a topic starting with
///   `$` (`#` and `+/x` never match `$SYS/x`); `$SYS/#` does.
/// * `$share/{group}/{filter}` is **not** understood here: strip it first.
///
/// Both arguments are assumed valid ([`validate_filter`],
/// [`validate_topic_name`]); for invalid ones the answer is unspecified but
/// the function does not panic.
#[must_use]
pub fn topic_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            // `#` also covers "no more levels": `a/#` matches `a`.
            (Some("#"), _) => return filter_levels.next().is_none(),
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}
