//! Raw strided matrices, the operands of every kernel.

/// A read-only matrix as a pointer and element strides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mat {
    /// Element `(0, 0)`.
    pub ptr: *const f32,
    /// Row stride, in elements.
    pub rs: isize,
    /// Column stride, in elements.
    pub cs: isize,
}

impl Mat {
    /// Element `(r, c)`.
    ///
    /// # Safety
    /// `(r, c)` must lie inside the matrix the pointer and strides came from.
    #[inline(always)]
    pub(crate) unsafe fn at(self, r: usize, c: usize) -> f32 {
        // SAFETY: the caller guarantees that `(r, c)` lies inside the matrix, so the offset stays inside
        // its allocation and the element there is an initialised f32.
        unsafe { *self.ptr.offset(r as isize * self.rs + c as isize * self.cs) }
    }

    /// The address of element `(r, c)`.
    ///
    /// # Safety
    /// As [`Mat::at`].
    #[inline(always)]
    pub(crate) unsafe fn addr(self, r: usize, c: usize) -> *const f32 {
        // SAFETY: the caller guarantees that `(r, c)` lies inside the matrix, so the offset stays inside
        // its allocation.
        unsafe { self.ptr.offset(r as isize * self.rs + c as isize * self.cs) }
    }

    /// The transpose (no data moved).
    #[inline(always)]
    pub(crate) fn t(self) -> Mat {
        Mat {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// A writable matrix as a pointer and element strides.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatMut {
    /// Element `(0, 0)`.
    pub ptr: *mut f32,
    /// Row stride, in elements.
    pub rs: isize,
    /// Column stride, in elements.
    pub cs: isize,
}

impl MatMut {
    /// The address of element `(r, c)`.
    ///
    /// # Safety
    /// `(r, c)` must lie inside the matrix the pointer and strides came from.
    #[inline(always)]
    pub(crate) unsafe fn addr(self, r: usize, c: usize) -> *mut f32 {
        // SAFETY: the caller guarantees that `(r, c)` lies inside the matrix, so the offset stays inside
        // its allocation.
        unsafe { self.ptr.offset(r as isize * self.rs + c as isize * self.cs) }
    }

    /// The transpose (no data moved).
    #[inline(always)]
    pub(crate) fn t(self) -> MatMut {
        MatMut {
            ptr: self.ptr,
            rs: self.cs,
            cs: self.rs,
        }
    }
}
