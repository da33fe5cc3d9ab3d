//! Calendar dates as ATLAS writes them (`2024-10-01`, or a timestamp in case-study files).

/// A checked calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: u32,
    pub month: u32,
    pub day: u32,
}

impl Date {
    /// `YYYY-MM-DD`, checked against the calendar.
    pub fn parse(s: &str) -> Result<Date, String> {
        let expected = || format!("`{s}` is not a date: expected YYYY-MM-DD");
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return Err(expected());
        }
        let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
            let part = &s[r];
            if !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err(expected());
            }
            part.parse().map_err(|_| expected())
        };
        let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
        if !(1..=12).contains(&month) {
            return Err(format!("`{s}` has month {month}: expected 01 to 12"));
        }
        let max_day = days_in_month(year, month);
        if day == 0 || day > max_day {
            return Err(format!(
                "`{s}` has day {day}: month {month} of {year} has {max_day} days"
            ));
        }
        Ok(Date { year, month, day })
    }

    /// A date, or an RFC 3339 timestamp whose date part is taken.
    pub fn parse_date_or_timestamp(s: &str) -> Result<Date, String> {
        if s.len() > 10 {
            let (date, rest) = s.split_at(10);
            if !rest.starts_with('T') && !rest.starts_with(' ') {
                return Err(format!(
                    "`{s}` is not a date: expected YYYY-MM-DD or an RFC 3339 timestamp"
                ));
            }
            if !valid_time(&rest[1..]) {
                return Err(format!(
                    "`{s}` has an invalid time: expected HH:MM:SS[.fff][Z|±HH:MM]"
                ));
            }
            return Date::parse(date);
        }
        Date::parse(s)
    }
}

impl std::fmt::Display for Date {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn valid_time(t: &str) -> bool {
    let b = t.as_bytes();
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return false;
    }
    let two = |i: usize, max: u32| -> bool {
        t.get(i..i + 2)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))
            .and_then(|p| p.parse::<u32>().ok())
            .is_some_and(|v| v <= max)
    };
    if !(two(0, 23) && two(3, 59) && two(6, 60)) {
        return false;
    }
    let mut rest = &t[8..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        rest = &frac[digits..];
    }
    match rest {
        "" | "Z" | "z" => true,
        zone => {
            let zb = zone.as_bytes();
            zb.len() == 6 && (zb[0] == b'+' || zb[0] == b'-') && zb[3] == b':' && {
                let z = &zone[1..];
                let h = &z[0..2];
                let m = &z[3..5];
                h.bytes().chain(m.bytes()).all(|c| c.is_ascii_digit())
            }
        }
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_dates() {
        assert_eq!(
            Date::parse("2024-02-29").unwrap(),
            Date {
                year: 2024,
                month: 2,
                day: 29
            }
        );
        assert_eq!(Date::parse("2000-02-29").unwrap().day, 29);
        assert_eq!(
            Date::parse_date_or_timestamp("2023-05-01T12:30:00.000Z")
                .unwrap()
                .month,
            5
        );
        assert!(Date::parse_date_or_timestamp("2023-05-01T12:30:00+02:00").is_ok());
    }

    #[test]
    fn rejects_invalid_dates() {
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "24-01-01",
            "2024/01/01",
            "2024-1-1",
            "",
            "2024-01-0x",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad}");
        }
        assert!(Date::parse_date_or_timestamp("2023-05-01T25:00:00Z").is_err());
        assert!(Date::parse_date_or_timestamp("2023-05-01 garbage").is_err());
    }
}
