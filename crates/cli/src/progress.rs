//! Progress on a terminal, silence in pipes and CI.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use aisec_ml::model::Classifier;
use indicatif::{ProgressBar, ProgressStyle};

/// A progress display that only draws when stderr is a terminal and CI is unset.
pub struct Progress {
    bar: Option<ProgressBar>,
    ticker: Mutex<Option<(Arc<AtomicBool>, JoinHandle<()>)>>,
}

impl Progress {
    pub fn new() -> Self {
        let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = interactive.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress {
            bar,
            ticker: Mutex::new(None),
        }
    }

    pub fn message(&self, text: impl Into<String>) {
        let text = text.into();
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None => tracing::info!("{text}"),
        }
    }

    /// Shows `what` with the queries the target has answered since now, their rate, and,
    /// when the run has a bound (`at_most` queries: the budget, or what the attack spends at
    /// most), the share of it spent and the time left at the current rate — an upper bound,
    /// since attacks that succeed early stop early. Until [`Progress::finish`].
    pub fn track_queries(&self, what: String, target: Arc<dyn Classifier>, at_most: Option<u64>) {
        let Some(bar) = self.bar.clone() else {
            return;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let start = target.budget().used();
        let started = Instant::now();
        let handle = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                let spent = target.budget().used().saturating_sub(start);
                bar.set_message(query_line(&what, spent, started.elapsed(), at_most));
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        if let Ok(mut t) = self.ticker.lock() {
            *t = Some((stop, handle));
        }
    }

    /// A line that stays on screen above the spinner.
    pub fn println(&self, text: impl AsRef<str>) {
        if let Some(bar) = &self.bar {
            bar.println(text.as_ref());
        }
    }

    pub fn finish(&self) {
        if let Some((stop, handle)) = self.ticker.lock().ok().and_then(|mut t| t.take()) {
            stop.store(true, Ordering::Relaxed);
            let _ = handle.join();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some((stop, _)) = self.ticker.get_mut().ok().and_then(|t| t.take()) {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

/// "pgd on 200 examples: 3,400 queries of at most 8,200 (41%), 1,200/s, at most 4 s left".
pub fn query_line(what: &str, spent: u64, elapsed: Duration, at_most: Option<u64>) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { spent as f64 / secs } else { 0.0 };
    let mut line = format!("{what}: {} queries", grouped(spent));
    if let Some(total) = at_most.filter(|t| *t > 0) {
        line.push_str(&format!(
            " of at most {} ({:.0}%)",
            grouped(total),
            100.0 * spent.min(total) as f64 / total as f64
        ));
        if rate > 0.0 {
            let left = total.saturating_sub(spent) as f64 / rate;
            line.push_str(&format!(
                ", {}/s, at most {} left",
                grouped(rate.round() as u64),
                clock(left)
            ));
        }
    } else if rate > 0.0 {
        line.push_str(&format!(", {}/s", grouped(rate.round() as u64)));
    }
    line
}

fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn clock(seconds: f64) -> String {
    let s = seconds.round().min(359_999.0) as u64;
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_line_gives_counts_share_rate_and_time_left() {
        assert_eq!(
            query_line("square", 3400, Duration::from_secs(2), Some(8200)),
            "square: 3,400 queries of at most 8,200 (41%), 1,700/s, at most 3 s left"
        );
        assert_eq!(
            query_line("hsj", 120_000, Duration::from_secs(10), Some(1_000_000)),
            "hsj: 120,000 queries of at most 1,000,000 (12%), 12,000/s, at most 1m13s left"
        );
        assert_eq!(
            query_line("knockoff", 10, Duration::from_secs(1), None),
            "knockoff: 10 queries, 10/s"
        );
        assert_eq!(
            query_line("x", 0, Duration::ZERO, Some(5)),
            "x: 0 queries of at most 5 (0%)"
        );
        assert_eq!(clock(7300.0), "2h01m");
    }
}
