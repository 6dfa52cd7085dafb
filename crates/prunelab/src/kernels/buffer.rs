//! Work space for the kernels: growable f32 buffers that start on a 64-byte line.

/// f32 lanes of a 64-byte line.
const LINE: usize = 16;

/// A growable buffer of f32 that starts on a 64-byte line, whatever the allocator does. New space is
/// zeroed.
#[derive(Debug, Default, Clone)]
pub(crate) struct AlignedBuf {
    lines: Vec<Line>,
}

/// One 64-byte line of f32.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; LINE]);

impl AlignedBuf {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        AlignedBuf { lines: Vec::new() }
    }

    /// A buffer of at least `len` zeros: `len` rounded up to a whole number of lines (as long as
    /// [`Deref`](std::ops::Deref) shows it).
    pub(crate) fn zeroed(len: usize) -> Self {
        AlignedBuf {
            lines: vec![Line([0.0; LINE]); len.div_ceil(LINE)],
        }
    }

    /// The first `len` floats, growing the buffer when needed.
    pub(crate) fn get(&mut self, len: usize) -> &mut [f32] {
        let lines = len.div_ceil(LINE);
        if self.lines.len() < lines {
            self.lines.resize(lines, Line([0.0; LINE]));
        }
        // SAFETY: `Line` is `repr(C)` around `[f32; LINE]` with no padding (64 bytes, 64-aligned), so the
        // lines are `lines * LINE` contiguous, initialised f32s, borrowed mutably through `self`.
        let all = unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<f32>(),
                self.lines.len() * LINE,
            )
        };
        &mut all[..len]
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [f32];
    /// Every float the buffer holds.
    fn deref(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; LINE]` with no padding (64 bytes, 64-aligned), so the
        // lines are `lines * LINE` contiguous, initialised f32s, borrowed through `self`.
        unsafe {
            std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.lines.len() * LINE)
        }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    /// Every float the buffer holds.
    fn deref_mut(&mut self) -> &mut [f32] {
        // SAFETY: as `deref`, borrowed mutably through `self`.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<f32>(),
                self.lines.len() * LINE,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_starts_on_a_line() {
        let mut b = AlignedBuf::new();
        for len in [1, 17, 1000, 5] {
            let s = b.get(len);
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr() as usize % 64, 0);
        }
        for len in [0, 1, 16, 17, 1000] {
            let mut b = AlignedBuf::zeroed(len);
            assert_eq!(b.len(), len.div_ceil(16) * 16);
            assert!(b.iter().all(|&v| v == 0.0));
            assert_eq!(b.as_ptr() as usize % 64, 0);
            let last = b.len().saturating_sub(1);
            b[last..].fill(1.0);
        }
    }
}
