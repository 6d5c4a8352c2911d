//! RFC 3339 timestamps (UTC, nanoseconds) without a date library.

/// Formats nanoseconds since the Unix epoch as `2024-05-01T12:00:00.123456789Z`.
pub fn rfc3339(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to (y, m, d).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A moment as the table shows it: the date, the time of day with
/// milliseconds, and the zone: `UTC`, or with `local` the local zone's
/// offset at that moment (`+09:00`), as `TZ` or the system sets it.
pub fn wall_clock(ns: u64, local: bool) -> (String, String, String) {
    let secs = (ns / 1_000_000_000) as i64;
    let nanos = (ns % 1_000_000_000) as u32;
    let Some(utc) = chrono::DateTime::from_timestamp(secs, nanos) else {
        let t = rfc3339(ns);
        return (
            t.get(..10).unwrap_or("").into(),
            t.get(11..23).unwrap_or("").into(),
            "UTC".into(),
        );
    };
    if local {
        let t = utc.with_timezone(&chrono::Local);
        (
            t.format("%Y-%m-%d").to_string(),
            t.format("%H:%M:%S%.3f").to_string(),
            t.format("%:z").to_string(),
        )
    } else {
        (
            utc.format("%Y-%m-%d").to_string(),
            utc.format("%H:%M:%S%.3f").to_string(),
            "UTC".to_owned(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(951_782_400_000_000_001),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            rfc3339(1_795_851_376_123_456_789),
            "2026-11-28T07:36:16.123456789Z"
        );
        assert_eq!(rfc3339(u64::MAX), "2554-07-21T23:34:33.709551615Z");
    }
}
