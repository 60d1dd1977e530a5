//! Time as the CLI shows it: stream entry ids as timestamps, ages, UTC times,
//! and the durations `gc --older-than` takes (`30s`, `10m`, `1h`, `2d`).
//! Parsing durations and writing dates is `humantime`'s; [`human`] stays
//! here because its compact two-unit form (`3m 04s`) is not one
//! `humantime` writes (it writes every unit: `3m 4s 120ms`).

use std::time::{Duration, UNIX_EPOCH};

use clamator_over_redis::ops::StreamId;

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

/// Parses a duration as `humantime` reads it: a number and a unit (`500ms`,
/// `30s`, `10m`, `1h`, `2d`, also `1.5h`, `90sec`, `2days`, `1w`), or several
/// of them summed (`1h30m`, `1h 30m`); a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| {
        format!(
            "invalid duration {text:?} ({e}): write a number and a unit (ms, s, m, h, d), \
             e.g. 30s, 10m, 1h, 2d or 1h30m"
        )
    })
}

/// The last millisecond `humantime` can write as a date (the end of year 9999).
const LAST_WRITABLE_MS: u64 = 253_402_300_800_000 - 1;

/// A Unix millisecond timestamp as ISO 8601 UTC (`2024-05-01T12:00:01.123Z`).
///
/// A time after the year 9999 (a stream entry id can say anything) is
/// written as the milliseconds it is (`+253402300800000ms`), never a wrong date.
pub(crate) fn iso_utc(ms: u64) -> String {
    if ms > LAST_WRITABLE_MS {
        return format!("+{ms}ms");
    }
    let at = UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

/// The UTC time of day of a Unix millisecond timestamp (`12:00:01.123`).
pub(crate) fn time_of_day(ms: u64) -> String {
    let iso = iso_utc(ms);
    // `YYYY-MM-DDTHH:MM:SS.mmmZ`: the time sits between the `T` and the `Z`.
    match iso.get(11..23) {
        Some(time) if iso.len() == 24 => time.to_owned(),
        _ => iso,
    }
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
        // humantime's grammar also takes spaces, fractions and long unit names.
        assert_eq!(ms("1h 30m"), Ok(5_400_000));
        assert_eq!(ms("1.5h"), Ok(5_400_000));
        assert_eq!(ms("2days"), Ok(172_800_000));
        assert_eq!(ms("90sec"), Ok(90_000));
        for bad in ["", "s", "1x", "-1s", "h1", "1h30", "99999999999999999999d"] {
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
        assert_eq!(time_of_day(0), "00:00:00.000");
        // Past year 9999: no panic, no made-up date.
        assert_eq!(iso_utc(LAST_WRITABLE_MS), "9999-12-31T23:59:59.999Z");
        assert_eq!(iso_utc(u64::MAX), format!("+{}ms", u64::MAX));
        assert_eq!(time_of_day(u64::MAX), format!("+{}ms", u64::MAX));
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
