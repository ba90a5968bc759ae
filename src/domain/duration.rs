//! Human durations as written in configuration: `30s`, `5m`, `6h`, `1d`.

use std::time::Duration;

/// Parses `N` followed by one unit among `s`, `m`, `h`, `d`.
const MAX_SECONDS: u64 = 3650 * 86_400;

pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{raw}` has no unit (use s, m, h or d)"))?;
    let (number, unit) = raw.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` does not start with a number"))?;
    let unit_seconds: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "`{raw}` has an unknown unit `{unit}` (use s, m, h or d)"
            ))
        }
    };
    // Timers and dates are computed from these durations: anything past ten years is a typo,
    // and would overflow some of them.
    let seconds = n
        .checked_mul(unit_seconds)
        .filter(|s| *s <= MAX_SECONDS)
        .ok_or_else(|| format!("`{raw}` is too long (at most 3650d)"))?;
    if seconds == 0 {
        return Err(format!("`{raw}` must be longer than zero"));
    }
    Ok(Duration::from_secs(seconds))
}

/// Parses a comma-separated list such as `30s,5m,15m`.
pub fn parse_duration_list(raw: &str) -> Result<Vec<Duration>, String> {
    let list: Vec<Duration> = raw
        .split(',')
        .map(parse_duration)
        .collect::<Result<_, _>>()?;
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_seconds_minutes_hours_days() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("6h"), Ok(Duration::from_secs(21_600)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
    }

    #[test]
    fn huge_durations_are_refused_not_wrapped() {
        assert!(parse_duration("3650d").is_ok());
        assert!(parse_duration("3651d").unwrap_err().contains("too long"));
        assert!(parse_duration("213503982334602d")
            .unwrap_err()
            .contains("too long"));
        assert!(parse_duration("99999999999999999999s").is_err());
    }

    #[test]
    fn missing_or_unknown_units_are_refused() {
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn lists_keep_their_order() {
        let list = parse_duration_list("30s,5m,1h").unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[2], Duration::from_secs(3600));
    }
}
