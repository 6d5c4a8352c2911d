//! RFC 3339 timestamps (UTC, nanoseconds) without a date library.

/// Formats nanoseconds since the Unix epoch as `2024-05-01T12:00:00.123456789Z`.
pub fn rfc3339(ns: u64) -> String {
    Rfc3339::of(ns).as_str().to_owned()
}

/// An RFC 3339 timestamp in place, for writers that format many (a report
/// row has two): no allocation. Every `u64` of nanoseconds falls before
/// the year 2555, so the text is always 30 bytes.
pub struct Rfc3339([u8; 30]);

impl Rfc3339 {
    pub fn of(ns: u64) -> Self {
        let secs = ns / 1_000_000_000;
        let frac = ns % 1_000_000_000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let mut out = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut n: u64| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, y as u64);
        put(5, 2, u64::from(m));
        put(8, 2, u64::from(d));
        put(11, 2, rem / 3600);
        put(14, 2, rem / 60 % 60);
        put(17, 2, rem % 60);
        put(20, 9, frac);
        Rfc3339(out)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits and the separators above are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
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
        // The last second of a year, a leap day and the day after it.
        assert_eq!(
            rfc3339(1_798_761_599_999_999_999),
            "2026-12-31T23:59:59.999999999Z"
        );
        assert_eq!(
            rfc3339(1_709_251_199_000_000_000),
            "2024-02-29T23:59:59.000000000Z"
        );
        assert_eq!(
            rfc3339(1_709_251_200_000_000_000),
            "2024-03-01T00:00:00.000000000Z"
        );
    }
}
