//! Wire types of the SLO view: availability against the objective over a rolling window, the error budget, how
//! fast it burns and how long it lasts at that pace.

use serde::{Deserialize, Serialize};

/// How fast the error budget burns over one window: 1 means it lasts exactly the SLO window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnRate {
    /// "1 h"
    pub window: String,
    pub window_secs: i64,
    /// `None` without requests in the window: no data, never zero.
    pub rate: Option<f64>,
}

/// A multi-window burn-rate alert (the Google SRE workbook's): fires when both windows burn faster than the
/// threshold, so a short spike that is over does not page and a slow leak still does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnAlert {
    /// "page: fast burn"
    pub name: String,
    pub long_window: String,
    pub short_window: String,
    pub threshold: f64,
    /// Share of the budget the long window spends at that threshold, in percent ("2 % in 1 h").
    pub budget_percent: f64,
    pub firing: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloView {
    /// 99.9
    pub objective_percent: f64,
    pub window_days: u32,
    /// How many days of the window have data: less than `window_days` right after a service appears.
    pub covered_days: f64,
    pub requests: f64,
    pub errors: f64,
    /// `None` without requests.
    pub availability_percent: Option<f64>,
    /// The errors the objective allows over the window's requests.
    pub budget_errors: f64,
    /// 100 untouched, 0 spent, below 0 overspent; `None` without requests.
    pub budget_remaining_percent: Option<f64>,
    pub burn_rates: Vec<BurnRate>,
    /// At the last hour's burn rate; `None` when the budget is not burning (or is spent).
    pub time_left_secs: Option<f64>,
    pub alerts: Vec<BurnAlert>,
    /// (unix seconds of the day's start, availability %) for days with requests.
    pub daily_availability: Vec<(i64, f64)>,
    /// (unix seconds, budget remaining %) after each hour of the window.
    pub budget_history: Vec<(i64, f64)>,
}

impl SloView {
    pub fn burn_rate(&self, window_secs: i64) -> Option<f64> {
        self.burn_rates
            .iter()
            .find(|b| b.window_secs == window_secs)
            .and_then(|b| b.rate)
    }
}

/// "3 d 4 h", "5 h 12 min", "40 min": how long the budget lasts.
pub fn format_duration(secs: f64) -> String {
    let minutes = (secs / 60.0).round() as i64;
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{mins} min"),
        (0, _) => format!("{hours} h {mins} min"),
        _ => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_the_largest_two_units() {
        assert_eq!(format_duration(40.0 * 60.0), "40 min");
        assert_eq!(format_duration(5.0 * 3600.0 + 12.0 * 60.0), "5 h 12 min");
        assert_eq!(format_duration(3.0 * 86400.0 + 4.0 * 3600.0), "3 d 4 h");
    }
}
