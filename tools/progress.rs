//! Progress on stderr: a bar on a terminal; in a log (stderr not a terminal: slurm, nohup, a pipe)
//! a plain line every `CLAP_TOOLS_PROGRESS_SECONDS` seconds (default 30, 0 = every update) and one
//! at the end, so a long job shows it is alive between its other messages.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The interval between plain progress lines.
fn interval() -> Duration {
    std::env::var("CLAP_TOOLS_PROGRESS_SECONDS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(30), Duration::from_secs_f64)
}

/// What a plain progress line needs.
struct Plain {
    what: String,
    every: Duration,
    start: Instant,
    /// When the last line was printed, the message to print with the next one, and the position a
    /// run resumed at (not counted in the rate).
    state: Mutex<(Instant, String, Option<u64>)>,
}

/// A progress bar on a terminal, plain lines otherwise; the library reports to it.
pub struct Bar {
    bar: indicatif::ProgressBar,
    plain: Option<Plain>,
}

/// Progress over `n` items called `what`.
pub fn progress(n: u64, what: &str) -> Bar {
    let bar = indicatif::ProgressBar::new(n);
    bar.set_style(
        indicatif::ProgressStyle::with_template(&format!(
            "{{elapsed_precise}} [{{wide_bar}}] {{pos}}/{{len}} {what} ({{per_sec}}, ETA {{eta}})"
        ))
        .expect("valid template"),
    );
    let plain = (!std::io::stderr().is_terminal()).then(|| Plain {
        what: what.to_string(),
        every: interval(),
        start: Instant::now(),
        state: Mutex::new((Instant::now(), String::new(), None)),
    });
    Bar { bar, plain }
}

impl Bar {
    /// A bar that shows nothing (a process that does not report, e.g. a training job's rank > 0).
    pub fn hidden() -> Self {
        Bar { bar: indicatif::ProgressBar::hidden(), plain: None }
    }

    pub fn set_length(&self, n: u64) {
        self.bar.set_length(n);
    }

    pub fn set_position(&self, n: u64) {
        if let Some(p) = &self.plain {
            // The first position set is where the job starts (a resumed run): the rate counts from it.
            p.state.lock().unwrap_or_else(|e| e.into_inner()).2.get_or_insert(n);
        }
        self.bar.set_position(n);
        self.tick(false);
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.tick(false);
    }

    /// Shown beside the count (the bar's message; the next plain line's tail).
    pub fn set_message(&self, m: String) {
        if let Some(p) = &self.plain {
            p.state.lock().unwrap_or_else(|e| e.into_inner()).1 = m.clone();
        }
        self.bar.set_message(m);
    }

    /// Run `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Remove the bar; in a log, print the final count.
    pub fn finish_and_clear(&self) {
        self.tick(true);
        self.bar.finish_and_clear();
    }

    /// Print a plain line when one is due (or `force`d).
    fn tick(&self, force: bool) {
        let Some(p) = &self.plain else { return };
        let mut state = p.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if !force && now.duration_since(state.0) < p.every {
            return;
        }
        state.0 = now;
        let (pos, len) = (self.bar.position(), self.bar.length().unwrap_or(0));
        let elapsed = now.duration_since(p.start).as_secs_f64();
        let done = pos.saturating_sub(state.2.unwrap_or(0));
        let rate = if elapsed > 0.0 { done as f64 / elapsed } else { 0.0 };
        let eta =
            if rate > 0.0 && len > pos { format!(", ETA {}", hms((len - pos) as f64 / rate)) } else { String::new() };
        let total = if len > 0 { format!("/{len}") } else { String::new() };
        let message = if state.1.is_empty() { String::new() } else { format!(" {}", state.1) };
        eprintln!("[{}] {pos}{total} {} ({rate:.2}/s{eta}){message}", hms(elapsed), p.what);
    }
}

/// Seconds as h:mm:ss.
fn hms(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

impl clap_tools::progress::Progress for Bar {
    fn start(&self, total: u64) {
        self.set_length(total);
    }
    fn advance(&self, n: u64) {
        self.inc(n);
    }
}
