//! When a failed delivery is tried again: `WEBHOOK_RETRY_SCHEDULE`, a list of waits
//! after the first, second, ... failure, with jitter that may only delay.

use std::str::FromStr;
use std::time::Duration;

/// The waits after each failed attempt; the attempt after the last wait is the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

impl Default for RetrySchedule {
    fn default() -> Self {
        // Infallible: the contract's default.
        Self::from_str("5s,5m,30m,2h,5h,10h,10h").unwrap_or(Self(Vec::new()))
    }
}

impl FromStr for RetrySchedule {
    type Err = String;

    /// Reads `5s,5m,30m,2h`: each step a whole number and a unit (`ms`, `s`, `m`, `h`,
    /// `d`); an empty list means no retries.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |step: &str| format!("`{step}` is not a wait like 500ms, 5s, 5m, 2h or 1d");
        let mut steps = Vec::new();
        for step in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let digits = step
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(step.len());
            let (number, unit) = step.split_at(digits);
            let n: u64 = number.parse().map_err(|_| bad(step))?;
            let millis = match unit {
                "ms" => Some(n),
                "s" => n.checked_mul(1_000),
                "m" => n.checked_mul(60_000),
                "h" => n.checked_mul(3_600_000),
                "d" => n.checked_mul(86_400_000),
                _ => None,
            }
            .ok_or_else(|| bad(step))?;
            steps.push(Duration::from_millis(millis));
        }
        if steps.len() > 50 {
            return Err("at most 50 retries".into());
        }
        Ok(Self(steps))
    }
}

impl RetrySchedule {
    /// How long after failed attempt number `attempt` (from 1) the next is due, with
    /// `spread` (from 0 to 1) of a quarter of the step added; `None` after the last.
    pub fn wait_after(&self, attempt: u32, spread: f64) -> Option<Duration> {
        let step = *self.0.get(usize::try_from(attempt.checked_sub(1)?).ok()?)?;
        Some(step + step.mul_f64(spread.clamp(0.0, 1.0) / 4.0))
    }

    /// How many attempts a message gets at most.
    pub fn attempts(&self) -> usize {
        self.0.len() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_contracts() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.attempts(), 8);
        assert_eq!(schedule.wait_after(1, 0.0), Some(Duration::from_secs(5)));
        assert_eq!(schedule.wait_after(2, 0.0), Some(Duration::from_secs(300)));
        assert_eq!(
            schedule.wait_after(7, 0.0),
            Some(Duration::from_secs(36_000))
        );
        assert_eq!(schedule.wait_after(8, 0.0), None);
        assert_eq!(schedule.wait_after(0, 0.0), None);
    }

    #[test]
    fn jitter_only_delays_and_by_at_most_a_quarter() {
        let schedule: RetrySchedule = "4s".parse().expect("schedule");
        assert_eq!(schedule.wait_after(1, 0.0), Some(Duration::from_secs(4)));
        assert_eq!(schedule.wait_after(1, 1.0), Some(Duration::from_secs(5)));
        assert_eq!(schedule.wait_after(1, 7.0), Some(Duration::from_secs(5)));
    }

    #[test]
    fn bad_steps_are_named() {
        assert_eq!("".parse::<RetrySchedule>().map(|s| s.attempts()), Ok(1));
        assert_eq!(
            "200ms, 1s".parse::<RetrySchedule>().map(|s| s.attempts()),
            Ok(3)
        );
        for bad in ["5", "5x", "s", "-1s", "1.5s"] {
            let err = bad.parse::<RetrySchedule>().unwrap_err();
            assert!(err.contains(bad.trim()), "{err}");
        }
    }
}
