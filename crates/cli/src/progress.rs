//! Progress on a terminal, silence in pipes and CI.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// A progress display that only draws when stderr is a terminal and CI is unset.
pub struct Progress {
    bar: Option<ProgressBar>,
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
        Progress { bar }
    }

    pub fn message(&self, text: impl Into<String>) {
        let text = text.into();
        match &self.bar {
            Some(bar) => bar.set_message(text),
            None => tracing::info!("{text}"),
        }
    }

    /// A line that stays on screen above the spinner.
    pub fn println(&self, text: impl AsRef<str>) {
        if let Some(bar) = &self.bar {
            bar.println(text.as_ref());
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
