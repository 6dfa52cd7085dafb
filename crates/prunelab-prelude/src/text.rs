//! Plain values shown as text in a notebook without a second compile.
//!
//! The kernel shows a cell's final value by calling `.evcxr_display()` on it; a value without that method
//! (a number, a string) makes the cell fail to compile once before evcxr retries it with a `Debug` fallback,
//! which doubles the cell's latency. [`PlainText`] gives the plain types that method, printing exactly what
//! the fallback prints (`{:?}` as `text/plain`), so such cells compile once. It is implemented for numbers,
//! `bool`, `char`, strings, `()`, and `Vec`s, slices, arrays, `Option`s, tuples and ndarray arrays of those
//! — not for every `Debug` type, so that charts and tables keep their own (PNG, HTML) displays.
//!
//! ```
//! use prunelab_prelude::*;
//!
//! assert_eq!(42usize.plain_text(), "42");
//! assert_eq!(vec![Some(0.5f32), None].plain_text(), "[Some(0.5), None]");
//! assert_eq!("w".plain_text(), "\"w\"");
//! ```

use std::fmt::Debug;
use std::io::Write;

/// Types shown in a notebook as their `Debug` text. Implemented for plain values only (see the module).
pub trait PlainText: Debug {
    /// The text the notebook shows: `format!("{:?}", self)`, as evcxr's fallback would print it.
    fn plain_text(&self) -> String {
        format!("{self:?}")
    }

    /// Sends the value to the notebook as `text/plain` (called by the kernel for a cell's final value).
    fn evcxr_display(&self) {
        let text = self.plain_text();
        let mut out = std::io::stdout().lock();
        // A failed write to the kernel's pipe has nowhere to be reported; evcxr does the same.
        let _ = write!(
            out,
            "EVCXR_BEGIN_CONTENT text/plain\n{text}\nEVCXR_END_CONTENT\n"
        )
        .and_then(|_| out.flush());
    }
}

macro_rules! plain {
    ($($t:ty),* $(,)?) => { $(impl PlainText for $t {})* };
}

plain!(
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    f32,
    f64,
    bool,
    char,
    str,
    String,
    ()
);

impl<T: PlainText> PlainText for Vec<T> {}
impl<T: PlainText> PlainText for [T] {}
impl<T: PlainText, const N: usize> PlainText for [T; N] {}
impl<T: PlainText> PlainText for Option<T> {}
impl<T: PlainText + ?Sized> PlainText for &T {}
impl<A: PlainText, B: PlainText> PlainText for (A, B) {}
impl<A: PlainText, B: PlainText, C: PlainText> PlainText for (A, B, C) {}
impl<A: PlainText, B: PlainText, C: PlainText, D: PlainText> PlainText for (A, B, C, D) {}
impl<A, S, D> PlainText for ndarray::ArrayBase<S, D>
where
    A: PlainText,
    S: ndarray::Data<Elem = A>,
    D: ndarray::Dimension,
{
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn plain_text_is_the_debug_text() {
        assert_eq!(3.5f64.plain_text(), format!("{:?}", 3.5f64));
        assert_eq!(().plain_text(), "()");
        assert_eq!(['a', 'b'].plain_text(), "['a', 'b']");
        assert_eq!((1u8, "x", 2.0f32).plain_text(), "(1, \"x\", 2.0)");
        let a = array![[1.0f32, 2.0], [3.0, 4.0]];
        assert_eq!(a.plain_text(), format!("{a:?}"));
        assert_eq!(a.row(0).plain_text(), format!("{:?}", a.row(0)));
        let v: &[usize] = &[1, 2];
        assert_eq!(v.plain_text(), "[1, 2]");
        assert_eq!(String::from("é").plain_text(), "\"é\"");
    }
}
