//! Work space for the kernels: growable f32 buffers that start on a 64-byte line.

/// f32 lanes of a 64-byte line.
const LINE: usize = 16;

/// A growable buffer of f32 that starts on a 64-byte line, whatever the allocator does. New space is
/// zeroed.
#[derive(Debug, Default)]
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
    }
}
