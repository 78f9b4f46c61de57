//! Output writes that go around the cache, for elementwise ops too large to stay in it.
//!
//! A plain store to a line that is not cached first reads that line from memory (the
//! write-allocate), then writes it back when it is evicted: an op streaming `a * b` over
//! arrays larger than the last-level cache moves four bytes for every three it needs, and
//! its output is evicted again before the next op reads it. Non-temporal stores skip the
//! read. Measured on the Zen 4 cores here (medians of three in-process A/B runs over 4M
//! f32), `a * b` took 1.15-1.18 ms instead of 1.34-1.48 ms at one thread and 0.73-0.91
//! ms instead of 1.06-1.87 ms at two; `gelu` 1.97 ms instead of 2.14 ms at one thread.
//! Where the op's data fits in the cache plain stores win instead (its output is still
//! cached for the next op): in a standalone loop, two chained products over 1 MiB arrays
//! took 77 µs with plain stores and 153 µs with streamed ones.
//!
//! So an elementwise driver turns streaming on ([`scope`]) when the bytes its op reads
//! and writes reach the last-level cache's size ([`worth_streaming`]), and a kernel writes
//! its output through [`lines`], which streams whole 64-byte lines where it is on. Values
//! never change: the same expression fills each element either way.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Bytes of one cache line, the unit a streamed store writes.
const LINE: usize = 64;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
}

/// `usize::MAX` until set: then the last-level cache's size decides.
static MIN_BYTES: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The size of this CPU's last-level cache, read once (Linux sysfs; 32 MiB, a common
/// size, where it cannot be read).
pub fn last_level_cache_bytes() -> usize {
    static BYTES: OnceLock<usize> = OnceLock::new();
    *BYTES.get_or_init(|| read_last_level_cache().unwrap_or(32 << 20))
}

fn read_last_level_cache() -> Option<usize> {
    let dir = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    let mut best: Option<(u32, usize)> = None;
    for entry in std::fs::read_dir(dir).ok()? {
        let path = entry.ok()?.path();
        let read = |f: &str| std::fs::read_to_string(path.join(f)).ok();
        let (Some(level), Some(size)) = (read("level"), read("size")) else { continue };
        let (Ok(level), Some(bytes)) = (level.trim().parse::<u32>(), parse_size(size.trim())) else { continue };
        if best.is_none_or(|(l, _)| level > l) {
            best = Some((level, bytes));
        }
    }
    best.map(|(_, bytes)| bytes)
}

/// sysfs cache sizes: `32768K`, `2M`, or plain bytes.
fn parse_size(s: &str) -> Option<usize> {
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = digits.parse().ok()?;
    match unit {
        "" => Some(n),
        "K" => n.checked_mul(1 << 10),
        "M" => n.checked_mul(1 << 20),
        "G" => n.checked_mul(1 << 30),
        _ => None,
    }
}

/// The bytes an op must read and write for its output to be streamed: the last-level
/// cache's size unless [`set_stream_min_bytes`] chose another.
pub fn stream_min_bytes() -> usize {
    match MIN_BYTES.load(Ordering::Relaxed) {
        usize::MAX => last_level_cache_bytes(),
        n => n,
    }
}

/// Sets the threshold of [`stream_min_bytes`] for the whole process (`usize::MAX`
/// restores the default; 0 streams every elementwise output). Results do not depend on
/// it, only speed.
pub fn set_stream_min_bytes(bytes: usize) {
    MIN_BYTES.store(bytes, Ordering::Relaxed);
}

/// Whether an op that reads and writes `bytes` in all should stream its output.
pub fn worth_streaming(bytes: usize) -> bool {
    bytes >= stream_min_bytes()
}

/// Runs `f` (one chunk of an op, on the current thread) with streamed writes on or off as
/// `on` says, then fences them: non-temporal stores are not ordered with later plain ones,
/// and the chunk's output must be complete before another thread reads it.
#[inline]
pub fn scope<R>(on: bool, f: impl FnOnce() -> R) -> R {
    let before = ON.with(|c| c.replace(on));
    let r = f();
    ON.with(|c| c.set(before));
    if on {
        fence();
    }
    r
}

/// Whether writes on this thread are streamed now.
#[inline(always)]
pub fn active() -> bool {
    ON.with(|c| c.get())
}

/// One line's worth of any element type, aligned so it can be stored as one line.
#[repr(C, align(64))]
struct Line<U>([U; LINE]);

/// Fills `out` by calling `fill(start, dst)` on consecutive pieces of it, `dst` standing
/// for `out[start..start + dst.len()]`. Where streaming is on, each whole 64-byte line of
/// `out` is computed into a local line (registers, after inlining) and stored around the
/// cache; the unaligned head and the tail are written in place. Elsewhere `fill` gets all
/// of `out` at once. Call it from inside the kernel's [`crate::simd::dispatch`] closure so
/// `fill` is compiled there.
#[inline(always)]
pub fn lines<U: Copy + Default>(out: &mut [U], mut fill: impl FnMut(usize, &mut [U])) {
    let size = std::mem::size_of::<U>();
    if !active() || size == 0 || !LINE.is_multiple_of(size) {
        return fill(0, out);
    }
    let per = LINE / size;
    let head = out.as_ptr().align_offset(LINE).min(out.len());
    let body_end = head + (out.len() - head) / per * per;
    fill(0, &mut out[..head]);
    let mut line = Line([U::default(); LINE]);
    let wide = wide_stores();
    let mut start = head;
    while start < body_end {
        fill(start, &mut line.0[..per]);
        // SAFETY: `out[start..start + per]` is in bounds (`start + per <= body_end`) and
        // 64-byte aligned (`head` aligns it, and `per` elements are 64 bytes); the line
        // holds `per` initialised elements, 64 bytes from an aligned address; `wide`
        // comes from `wide_stores`.
        unsafe { store_line(out.as_mut_ptr().add(start).cast::<u8>(), line.0.as_ptr().cast::<u8>(), wide) };
        start += per;
    }
    fill(body_end, &mut out[body_end..]);
}

/// Whether 32-byte streamed stores are available (AVX); else 16-byte ones are used.
#[inline]
fn wide_stores() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Copies 64 bytes from `src` to the line at `dst` (both 64-byte aligned) with
/// non-temporal stores where the target has them: two 32-byte ones where `wide` (they
/// measured a quarter faster than four 16-byte ones for `a * b` at one thread).
///
/// # Safety
/// `src` must be readable and `dst` writable for 64 bytes, both aligned to 64; `wide`
/// only where [`wide_stores`] is true.
#[inline(always)]
unsafe fn store_line(dst: *mut u8, src: *const u8, wide: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if wide {
            // SAFETY: as the caller guarantees, AVX included.
            return unsafe { store_line_avx(dst, src) };
        }
        use std::arch::x86_64::{__m128i, _mm_load_si128, _mm_stream_si128};
        let (d, s) = (dst.cast::<__m128i>(), src.cast::<__m128i>());
        // SAFETY: the caller guarantees four aligned 16-byte blocks at both addresses;
        // SSE2 is part of the x86-64 baseline.
        unsafe {
            for k in 0..4 {
                _mm_stream_si128(d.add(k), _mm_load_si128(s.add(k)));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = wide;
        // SAFETY: as the caller guarantees.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, LINE) }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
#[inline]
unsafe fn store_line_avx(dst: *mut u8, src: *const u8) {
    use std::arch::x86_64::{__m256i, _mm256_load_si256, _mm256_stream_si256};
    let (d, s) = (dst.cast::<__m256i>(), src.cast::<__m256i>());
    // SAFETY: two aligned 32-byte blocks at both addresses (the caller's contract).
    unsafe {
        _mm256_stream_si256(d, _mm256_load_si256(s));
        _mm256_stream_si256(d.add(1), _mm256_load_si256(s.add(1)));
    }
}

/// Orders this thread's streamed stores before its later stores.
#[inline]
fn fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `sfence` has no preconditions; SSE is part of the x86-64 baseline.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_sizes_parse() {
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("3Q"), None);
        assert_eq!(parse_size(""), None);
    }

    /// Every alignment and length around a few lines, for 1-, 2-, 4- and 8-byte
    /// elements: the streamed fill writes exactly what the plain one does.
    fn agrees<U: Copy + Default + PartialEq + std::fmt::Debug>(make: impl Fn(usize) -> U) {
        let size = std::mem::size_of::<U>();
        for skip in 0..LINE / size + 1 {
            for len in [0, 1, 7, LINE / size, LINE / size + 3, 5 * LINE / size + 1] {
                let want: Vec<U> = (0..len).map(&make).collect();
                let mut backing = vec![U::default(); skip + len];
                let out = &mut backing[skip..];
                scope(true, || lines(out, |s, d| d.iter_mut().enumerate().for_each(|(i, v)| *v = make(s + i))));
                assert_eq!(out, &want[..], "skip {skip}, len {len}");
            }
        }
    }

    #[test]
    fn streamed_lines_write_what_plain_writes_do() {
        agrees(|i| i as u8);
        agrees(|i| i as u16 * 3);
        agrees(|i| i as f32 * 0.5 - 7.0);
        agrees(|i| i as f64 * 1.5);
        agrees(|i| i % 3 == 0);
    }

    #[test]
    fn scope_turns_streaming_on_only_inside_and_restores_it() {
        assert!(!active());
        scope(true, || {
            assert!(active());
            scope(false, || assert!(!active()));
            assert!(active());
        });
        assert!(!active());
    }

    #[test]
    fn the_default_threshold_is_the_last_level_cache() {
        assert!(last_level_cache_bytes() >= 1 << 16);
        assert_eq!(stream_min_bytes(), last_level_cache_bytes());
        assert!(worth_streaming(last_level_cache_bytes()) && !worth_streaming(last_level_cache_bytes() - 1));
    }
}
