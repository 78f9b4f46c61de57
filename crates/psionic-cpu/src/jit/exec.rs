//! Executable memory for generated code: mapped writable, filled, then switched to
//! read + execute before anything runs it (never writable and executable at once).

/// A page-aligned mapping holding one function's machine code.
pub struct ExecMem {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: the mapping is immutable (read + execute) once built and owned by this value
// alone; running the code from several threads reads it only.
unsafe impl Send for ExecMem {}
// SAFETY: as above.
unsafe impl Sync for ExecMem {}

impl ExecMem {
    /// Maps `code` executable; `None` where the system refuses (the chain then runs on
    /// its kernels).
    pub fn new(code: &[u8]) -> Option<ExecMem> {
        let len = code.len().max(1).next_multiple_of(4096);
        // SAFETY: an anonymous private mapping of `len` bytes; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return None;
        }
        let mem = ExecMem { ptr: ptr.cast(), len };
        // SAFETY: the mapping is writable and `code.len() <= len`; it does not overlap
        // `code`.
        unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), mem.ptr, code.len()) };
        // SAFETY: `ptr..ptr + len` is the mapping made above.
        let ok = unsafe { libc::mprotect(ptr, len, libc::PROT_READ | libc::PROT_EXEC) } == 0;
        ok.then_some(mem)
    }

    /// The address of the first instruction.
    pub fn entry(&self) -> *const u8 {
        self.ptr
    }
}

impl Drop for ExecMem {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; nothing runs it any more
        // (its owner is being dropped).
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}
