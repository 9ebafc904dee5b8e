//! How the dashboard writes times for a person to read: `4 s`, `3 min ago`. Both the pages and the
//! status judgement (which words its reasons) use it, so it sits apart from either.

/// "3 s ago", or "never".
pub(super) fn ago(at: Option<i64>, now: i64) -> String {
    match at {
        Some(at) => format!("{} ago", duration(now.saturating_sub(at).max(0))),
        None => "never".into(),
    }
}

/// A duration in ms as a person reads it: `350 ms`, `4 s`, `3 min`, `2 h`, `5 d`.
pub(crate) fn duration(ms: i64) -> String {
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{} s", ms / 1_000)
    } else if ms < 3_600_000 {
        format!("{} min", ms / 60_000)
    } else if ms < 86_400_000 {
        format!("{} h", ms / 3_600_000)
    } else {
        format!("{} d", ms / 86_400_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(duration(350), "350 ms");
        assert_eq!(duration(4_200), "4 s");
        assert_eq!(duration(185_000), "3 min");
        assert_eq!(duration(7_300_000), "2 h");
        assert_eq!(duration(5 * 86_400_000 + 1), "5 d");
        assert_eq!(ago(None, 10), "never");
        assert_eq!(ago(Some(20), 10), "0 ms ago");
    }
}
