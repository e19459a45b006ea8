//! Timelines: how many events fell in each day, week, month, quarter or year, every
//! bucket between the first and the last present (empty ones with 0).

use chrono::{Datelike, Days, Months, NaiveDate};
use serde::Serialize;

use super::ParamError;

/// The most buckets one timeline may have.
pub const MAX_BUCKETS: usize = 1_000;

/// The width of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    /// A calendar day.
    Day,
    /// Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
    /// January to March, and so on.
    Quarter,
    /// A calendar year.
    Year,
}

impl Interval {
    /// Every accepted `interval` value.
    pub const NAMES: &'static [&'static str] = &["day", "week", "month", "quarter", "year"];

    /// Reads `interval` (default `month`).
    pub fn from_param(value: Option<&str>) -> Result<Self, ParamError> {
        match value.unwrap_or("month") {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "quarter" => Ok(Self::Quarter),
            "year" => Ok(Self::Year),
            _ => Err(ParamError::new(
                "interval",
                format!("must be one of: {}", Self::NAMES.join(", ")),
            )),
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// PostgreSQL's `date_trunc` unit for it (weeks start on Monday there too).
    pub fn sql_unit(self) -> &'static str {
        self.as_str()
    }

    /// The first day of the bucket holding `day`.
    pub fn start_of(self, day: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => day,
            Self::Week => day - Days::new(u64::from(day.weekday().num_days_from_monday())),
            Self::Month => day.with_day(1).unwrap_or(day),
            Self::Quarter => {
                let month = (day.month0() / 3) * 3 + 1;
                NaiveDate::from_ymd_opt(day.year(), month, 1).unwrap_or(day)
            }
            Self::Year => NaiveDate::from_ymd_opt(day.year(), 1, 1).unwrap_or(day),
        }
    }

    /// The first day of the bucket after the one starting on `start`.
    fn next(self, start: NaiveDate) -> Option<NaiveDate> {
        match self {
            Self::Day => start.checked_add_days(Days::new(1)),
            Self::Week => start.checked_add_days(Days::new(7)),
            Self::Month => start.checked_add_months(Months::new(1)),
            Self::Quarter => start.checked_add_months(Months::new(3)),
            Self::Year => start.checked_add_months(Months::new(12)),
        }
    }
}

/// One bucket.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Bucket {
    /// Its first day.
    pub start: NaiveDate,
    /// Matching events that occurred in it.
    pub count: i64,
}

/// A timeline as the API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Timeline {
    /// The bucket width.
    #[schema(value_type = String, example = "month")]
    pub interval: &'static str,
    /// The first day of the first bucket; `null` when nothing matches and no bounds
    /// were given.
    pub from: Option<NaiveDate>,
    /// The last day of the last bucket.
    pub to: Option<NaiveDate>,
    /// Events in all the buckets: what the list returns for the same filters between
    /// `from` and `to`.
    pub total: i64,
    /// Every bucket from `from` to `to`, in order, empty ones included.
    pub buckets: Vec<Bucket>,
}

impl Timeline {
    /// Zero-fills `counted` (bucket starts with their counts, any order) between the
    /// buckets of `from` and `to` (the filter's bounds, else the first and last counted
    /// bucket). More than [`MAX_BUCKETS`] is a [`ParamError`] naming `interval`.
    pub fn fill(
        interval: Interval,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
        mut counted: Vec<Bucket>,
    ) -> Result<Self, ParamError> {
        counted.sort_by_key(|b| b.start);
        let first = from
            .map(|d| interval.start_of(d))
            .or_else(|| counted.first().map(|b| b.start));
        let last = to
            .map(|d| interval.start_of(d))
            .or_else(|| counted.last().map(|b| b.start));
        let (Some(first), Some(last)) = (first.or(last), last.or(first)) else {
            return Ok(Self {
                interval: interval.as_str(),
                from: None,
                to: None,
                total: 0,
                buckets: Vec::new(),
            });
        };
        let too_many = || {
            ParamError::new(
                "interval",
                format!(
                    "would make more than {MAX_BUCKETS} buckets: choose a wider interval or narrow `from` and `to`"
                ),
            )
        };
        let mut buckets = Vec::new();
        let mut counts = counted.into_iter().peekable();
        let mut start = first;
        let mut end = last;
        while start <= last {
            if buckets.len() == MAX_BUCKETS {
                return Err(too_many());
            }
            let mut count = 0;
            while let Some(bucket) = counts.next_if(|b| b.start <= start) {
                if bucket.start == start {
                    count += bucket.count;
                }
            }
            buckets.push(Bucket { start, count });
            match interval.next(start) {
                Some(next) => {
                    end = next.pred_opt().unwrap_or(start);
                    start = next;
                }
                None => break,
            }
        }
        Ok(Self {
            interval: interval.as_str(),
            from: Some(first),
            to: Some(end),
            total: buckets.iter().map(|b| b.count).sum(),
            buckets,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn buckets_start_where_the_calendar_says() {
        assert_eq!(
            Interval::Week.start_of(day("2024-03-27")),
            day("2024-03-25")
        );
        assert_eq!(
            Interval::Week.start_of(day("2024-03-25")),
            day("2024-03-25")
        );
        assert_eq!(
            Interval::Month.start_of(day("2024-03-27")),
            day("2024-03-01")
        );
        assert_eq!(
            Interval::Quarter.start_of(day("2024-08-15")),
            day("2024-07-01")
        );
        assert_eq!(
            Interval::Year.start_of(day("2024-08-15")),
            day("2024-01-01")
        );
        assert_eq!(Interval::from_param(None).unwrap(), Interval::Month);
        assert_eq!(
            Interval::from_param(Some("hour")).unwrap_err().name,
            "interval"
        );
    }

    #[test]
    fn empty_buckets_are_filled_and_the_ends_are_whole_buckets() {
        let counted = vec![
            Bucket {
                start: day("2024-03-01"),
                count: 2,
            },
            Bucket {
                start: day("2024-01-01"),
                count: 1,
            },
        ];
        let t = Timeline::fill(Interval::Month, None, None, counted).unwrap();
        assert_eq!(t.from, Some(day("2024-01-01")));
        assert_eq!(t.to, Some(day("2024-03-31")));
        assert_eq!(t.total, 3);
        let counts: Vec<i64> = t.buckets.iter().map(|b| b.count).collect();
        assert_eq!(counts, [1, 0, 2]);

        let bounded = Timeline::fill(
            Interval::Week,
            Some(day("2024-03-27")),
            Some(day("2024-04-02")),
            vec![],
        )
        .unwrap();
        assert_eq!(bounded.from, Some(day("2024-03-25")));
        assert_eq!(bounded.to, Some(day("2024-04-07")));
        assert_eq!(bounded.buckets.len(), 2);

        let nothing = Timeline::fill(Interval::Day, None, None, vec![]).unwrap();
        assert_eq!((nothing.from, nothing.buckets.len()), (None, 0));
    }

    #[test]
    fn more_than_a_thousand_buckets_is_refused() {
        let ok = Timeline::fill(
            Interval::Day,
            Some(day("2024-01-01")),
            Some(day("2026-09-26")),
            vec![],
        );
        assert_eq!(ok.unwrap().buckets.len(), 1_000);
        let too_many = Timeline::fill(
            Interval::Day,
            Some(day("2024-01-01")),
            Some(day("2026-09-27")),
            vec![],
        );
        assert_eq!(too_many.unwrap_err().name, "interval");
    }
}
