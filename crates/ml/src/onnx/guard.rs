//! burn checks tensor shapes by panicking. The interpreter checks what it can before each
//! operator (Conv's channels, broadcasting), but an ONNX file is untrusted input and every
//! operator has its own shape rules: a panic inside one becomes an error naming the node,
//! and the panic's own message is kept for it instead of being printed as a crash.

use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

use crate::error::{MlError, Result};

thread_local! {
    /// Set while this thread evaluates an operator under [`caught`].
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// The message of the panic [`caught`] is about to turn into an error.
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// `f`'s result, or an error with the panic's message if `f` panicked.
pub fn caught<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                let text = info
                    .payload()
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| info.payload().downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "no message".into());
                MESSAGE.with(|m| *m.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    outcome.unwrap_or_else(|_| {
        let text = MESSAGE.with(|m| m.borrow_mut().take()).unwrap_or_default();
        // burn's messages are framed over several lines ("=== Tensor Operation Error ===").
        let words: Vec<&str> = text
            .split_whitespace()
            .filter(|w| !w.chars().all(|c| c == '='))
            .collect();
        Err(MlError::Invalid(format!(
            "the tensor library refused the operation: {}",
            words.join(" ")
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        let r: Result<()> =
            caught(|| panic!("=== Tensor Operation Error ===\n  Reason: shapes differ"));
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("refused the operation: Tensor Operation Error Reason: shapes differ"),
            "{e}"
        );
        assert_eq!(caught(|| Ok(3)).unwrap(), 3);
        assert!(!GUARDED.with(Cell::get), "the flag is restored");
    }
}
