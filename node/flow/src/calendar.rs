//! A unit's calendar: open, closed or holiday at an instant, in the unit's
//! time zone.
//!
//! Precedence, most specific first: a holiday (the unit's own or an
//! inherited university closure) closes the day; a dated exception replaces
//! the weekly hours of its day; otherwise the weekly hours apply.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use crate::document::{CalendarSpec, HolidaySpec, UniversityCalendar};

/// What the calendar says about an instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HoursStatus {
    /// Within opening hours.
    Open,
    /// Outside opening hours.
    Closed,
    /// A holiday or closure, with its name.
    Holiday(String),
}

/// An opening range within a day; `end` of `None` means midnight (24:00).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    start: NaiveTime,
    end: Option<NaiveTime>,
}

impl Range {
    /// Parses `HH:MM-HH:MM` (end may be `24:00`; end after start).
    pub fn parse(text: &str) -> Result<Range, String> {
        let (a, b) = text
            .split_once('-')
            .ok_or_else(|| format!("{text:?} is not HH:MM-HH:MM"))?;
        let start = NaiveTime::parse_from_str(a.trim(), "%H:%M")
            .map_err(|_| format!("{text:?}: bad start time"))?;
        let end = match b.trim() {
            "24:00" => None,
            other => Some(
                NaiveTime::parse_from_str(other, "%H:%M")
                    .map_err(|_| format!("{text:?}: bad end time"))?,
            ),
        };
        if end.is_some_and(|e| e <= start) {
            return Err(format!("{text:?}: the end must be after the start"));
        }
        Ok(Range { start, end })
    }

    fn contains(&self, time: NaiveTime) -> bool {
        time >= self.start && self.end.is_none_or(|end| time < end)
    }
}

/// A checked calendar.
#[derive(Clone, Debug)]
pub struct Calendar {
    timezone: Tz,
    weekly: [Vec<Range>; 7],
    exceptions: HashMap<NaiveDate, Vec<Range>>,
    holidays: Vec<(NaiveDate, NaiveDate, String)>,
}

impl Calendar {
    /// Builds a calendar from the unit's spec and, when it inherits, the
    /// university's closures. Errors name the offending entry.
    pub fn build(
        timezone: &str,
        spec: &CalendarSpec,
        university: &UniversityCalendar,
    ) -> Result<Calendar, String> {
        let zone: Result<Tz, String> = timezone
            .parse()
            .map_err(|_| format!("unknown time zone {timezone:?}"));
        // Every problem is collected, one per line, so that an operator sees
        // them all at once.
        let mut errors: Vec<String> = Vec::new();
        fn parse_all(errors: &mut Vec<String>, label: &str, ranges: &[String]) -> Vec<Range> {
            ranges
                .iter()
                .filter_map(|r| {
                    Range::parse(r)
                        .map_err(|e| errors.push(format!("calendar {label}: {e}")))
                        .ok()
                })
                .collect()
        }
        let w = &spec.weekly;
        let weekly = [
            parse_all(&mut errors, "mon", &w.mon),
            parse_all(&mut errors, "tue", &w.tue),
            parse_all(&mut errors, "wed", &w.wed),
            parse_all(&mut errors, "thu", &w.thu),
            parse_all(&mut errors, "fri", &w.fri),
            parse_all(&mut errors, "sat", &w.sat),
            parse_all(&mut errors, "sun", &w.sun),
        ];
        let mut exceptions = HashMap::new();
        for exception in &spec.exceptions {
            let ranges = parse_all(&mut errors, &exception.date.to_string(), &exception.hours);
            if exceptions.insert(exception.date, ranges).is_some() {
                errors.push(format!("calendar: two exceptions for {}", exception.date));
            }
        }
        let mut holidays = Vec::new();
        let inherited = if spec.inherit_university {
            university.closures.as_slice()
        } else {
            &[]
        };
        for holiday in spec.holidays.iter().chain(inherited) {
            match span(holiday) {
                Ok(s) => holidays.push(s),
                Err(e) => errors.push(e),
            }
        }
        let timezone = match zone {
            Ok(zone) => zone,
            Err(e) => {
                errors.insert(0, e);
                Tz::UTC
            }
        };
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        Ok(Calendar {
            timezone,
            weekly,
            exceptions,
            holidays,
        })
    }

    /// A calendar open all the time: a unit whose document has no calendar.
    pub fn always_open() -> Calendar {
        let all_day = vec![Range {
            start: NaiveTime::MIN,
            end: None,
        }];
        Calendar {
            timezone: Tz::UTC,
            weekly: std::array::from_fn(|_| all_day.clone()),
            exceptions: HashMap::new(),
            holidays: Vec::new(),
        }
    }

    /// The time zone.
    pub fn timezone(&self) -> Tz {
        self.timezone
    }

    /// Open, closed or holiday at `now`.
    pub fn status(&self, now: DateTime<Utc>) -> HoursStatus {
        let local = self.timezone.from_utc_datetime(&now.naive_utc());
        let date = local.date_naive();
        if let Some((_, _, name)) = self
            .holidays
            .iter()
            .find(|(from, to, _)| *from <= date && date <= *to)
        {
            return HoursStatus::Holiday(name.clone());
        }
        let ranges = self
            .exceptions
            .get(&date)
            .unwrap_or(&self.weekly[weekday_index(local.weekday())]);
        if ranges.iter().any(|r| r.contains(local.time())) {
            HoursStatus::Open
        } else {
            HoursStatus::Closed
        }
    }
}

fn span(holiday: &HolidaySpec) -> Result<(NaiveDate, NaiveDate, String), String> {
    let until = holiday.until.unwrap_or(holiday.date);
    if until < holiday.date {
        return Err(format!(
            "holiday {:?}: `until` is before `date`",
            holiday.name
        ));
    }
    Ok((holiday.date, until, holiday.name.clone()))
}

fn weekday_index(day: Weekday) -> usize {
    day.num_days_from_monday() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{ExceptionSpec, WeeklySpec};

    fn spec() -> CalendarSpec {
        CalendarSpec {
            inherit_university: true,
            weekly: WeeklySpec {
                mon: vec!["08:00-14:00".into(), "15:00-20:00".into()],
                fri: vec!["08:00-15:00".into()],
                ..WeeklySpec::default()
            },
            holidays: vec![HolidaySpec {
                date: NaiveDate::from_ymd_opt(2026, 12, 8).unwrap(),
                until: None,
                name: "Immaculate Conception".into(),
            }],
            exceptions: vec![ExceptionSpec {
                date: NaiveDate::from_ymd_opt(2026, 12, 11).unwrap(),
                hours: vec![],
            }],
        }
    }

    fn university() -> UniversityCalendar {
        UniversityCalendar {
            closures: vec![HolidaySpec {
                date: NaiveDate::from_ymd_opt(2026, 12, 24).unwrap(),
                until: Some(NaiveDate::from_ymd_opt(2027, 1, 6).unwrap()),
                name: "Christmas closure".into(),
            }],
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn weekly_hours_apply_in_the_units_time_zone() {
        let c = Calendar::build("Europe/Madrid", &spec(), &university()).unwrap();
        // Monday 2026-12-07: 07:30 UTC is 08:30 in Madrid (CET, UTC+1).
        assert_eq!(c.status(at("2026-12-07T07:30:00Z")), HoursStatus::Open);
        assert_eq!(c.status(at("2026-12-07T06:59:00Z")), HoursStatus::Closed);
        // The lunch gap 14:00-15:00 local.
        assert_eq!(c.status(at("2026-12-07T13:30:00Z")), HoursStatus::Closed);
        assert_eq!(c.status(at("2026-12-07T14:00:00Z")), HoursStatus::Open);
        // Sunday has no hours.
        assert_eq!(c.status(at("2026-12-06T10:00:00Z")), HoursStatus::Closed);
    }

    #[test]
    fn holidays_exceptions_and_university_closures_win() {
        let c = Calendar::build("Europe/Madrid", &spec(), &university()).unwrap();
        assert_eq!(
            c.status(at("2026-12-08T10:00:00Z")),
            HoursStatus::Holiday("Immaculate Conception".into())
        );
        // Friday 11th closed by an exception.
        assert_eq!(c.status(at("2026-12-11T10:00:00Z")), HoursStatus::Closed);
        // Monday 4 January 2027 is inside the university's closure.
        assert_eq!(
            c.status(at("2027-01-04T10:00:00Z")),
            HoursStatus::Holiday("Christmas closure".into())
        );
        let mut own = spec();
        own.inherit_university = false;
        let c = Calendar::build("Europe/Madrid", &own, &university()).unwrap();
        assert_eq!(c.status(at("2027-01-04T10:00:00Z")), HoursStatus::Open);
    }

    #[test]
    fn bad_ranges_and_zones_are_named() {
        let mut bad = spec();
        bad.weekly.tue = vec!["18:00-09:00".into()];
        let err = Calendar::build("Europe/Madrid", &bad, &university()).unwrap_err();
        assert!(
            err.contains("tue") && err.contains("after the start"),
            "{err}"
        );
        assert!(Calendar::build("Mars/Olympus", &spec(), &university())
            .unwrap_err()
            .contains("Mars/Olympus"));
    }

    #[test]
    fn midnight_ends_a_day() {
        let mut s = spec();
        s.weekly.sat = vec!["20:00-24:00".into()];
        let c = Calendar::build("UTC", &s, &UniversityCalendar::default()).unwrap();
        assert_eq!(c.status(at("2026-12-05T23:59:59Z")), HoursStatus::Open);
    }
}
