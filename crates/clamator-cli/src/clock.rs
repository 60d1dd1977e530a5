//! Time as the CLI shows it: stream entry ids as timestamps, ages, UTC times,
//! and the durations `gc --older-than` takes (`30s`, `10m`, `1h`, `2d`).

use std::time::Duration;

use clamator_over_redis::StreamId;

/// The millisecond timestamp of a stream entry id (`<ms>-<seq>`).
pub(crate) fn id_ms(id: &str) -> Option<u64> {
    StreamId::parse(id).map(StreamId::ms)
}

/// A compact human duration: `850ms`, `4.2s`, `3m 04s`, `2h 05m`, `3d 04h`.
pub(crate) fn human(ms: u64) -> String {
    const S: u64 = 1_000;
    const M: u64 = 60 * S;
    const H: u64 = 60 * M;
    const D: u64 = 24 * H;
    match ms {
        0..S => format!("{ms}ms"),
        S..M => format!("{:.1}s", ms as f64 / 1_000.0),
        M..H => format!("{}m {:02}s", ms / M, (ms % M) / S),
        H..D => format!("{}h {:02}m", ms / H, (ms % H) / M),
        _ => format!("{}d {:02}h", ms / D, (ms % D) / H),
    }
}

/// Parses `500ms`, `30s`, `10m`, `1h`, `2d`, or sums of them (`1h30m`); a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {text:?}: write a number and a unit (ms, s, m, h, d), \
             e.g. 30s, 10m, 1h, 2d or 1h30m"
        )
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total = n
            .checked_mul(unit_ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(Duration::from_millis(total))
}

/// The civil date `(year, month, day)` of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's algorithm, valid for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A Unix millisecond timestamp as ISO 8601 UTC (`2024-05-01T12:00:01.123Z`).
pub(crate) fn iso_utc(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let (y, mo, d) = civil_from_days(days);
    format!("{y:04}-{mo:02}-{d:02}T{}Z", time_of_day(ms))
}

/// The UTC time of day of a Unix millisecond timestamp (`12:00:01.123`).
pub(crate) fn time_of_day(ms: u64) -> String {
    let in_day = ms % 86_400_000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        (in_day / 60_000) % 60,
        (in_day / 1_000) % 60,
        in_day % 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        let ms = |t: &str| parse_duration(t).map(|d| d.as_millis() as u64);
        assert_eq!(ms("30s"), Ok(30_000));
        assert_eq!(ms("10m"), Ok(600_000));
        assert_eq!(ms("1h"), Ok(3_600_000));
        assert_eq!(ms("2d"), Ok(172_800_000));
        assert_eq!(ms("500ms"), Ok(500));
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("45"), Ok(45_000));
        assert_eq!(ms(" 5s "), Ok(5_000));
        for bad in [
            "",
            "s",
            "1x",
            "1.5h",
            "-1s",
            "h1",
            "1h 30m",
            "99999999999999999999d",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains("e.g. 30s"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn ids_and_times() {
        assert_eq!(id_ms("1700000000123-4"), Some(1_700_000_000_123));
        assert_eq!(id_ms("1000-0"), Some(1000));
        assert_eq!(id_ms("junk"), None);
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_utc(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(time_of_day(1_700_000_000_123), "22:13:20.123");
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(850), "850ms");
        assert_eq!(human(4_200), "4.2s");
        assert_eq!(human(184_000), "3m 04s");
        assert_eq!(human(7_500_000), "2h 05m");
        assert_eq!(human(273_600_000), "3d 04h");
    }
}
