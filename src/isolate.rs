//! Per-item isolation in batch jobs: a panic inside a decoder (ours or a dependency's) while working
//! on one file becomes that file's failure, and the job goes on. The panic is not printed: the
//! failure row (or report line) says what happened.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Run `f`; a panic inside it is returned as `Err` instead of unwinding further: "`doing`: `who`
/// panicked (message)", e.g. "decoding: the decoder panicked (…)". Panics elsewhere are reported as
/// before.
pub fn isolate<T>(doing: &str, who: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info)
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    result.map_err(|payload| {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        format!("{doing}: {who} panicked ({msg})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_and_the_caller_goes_on() {
        let r: Result<u32, String> = isolate("decoding x.wav", "the decoder", || panic!("multiply with overflow"));
        assert_eq!(r.unwrap_err(), "decoding x.wav: the decoder panicked (multiply with overflow)");
        let r: Result<u32, String> = isolate("embedding", "the model", || panic!("{}", String::from("shape")));
        assert_eq!(r.unwrap_err(), "embedding: the model panicked (shape)");
        assert_eq!(isolate("ok", "it", || 3).unwrap(), 3);
    }
}
