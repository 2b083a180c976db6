//! Shared by every fuzz target: a counting global allocator, so that a target can assert
//! that a decoder's peak memory stays within a bound proportional to its input and that
//! nothing it allocated outlives it (a leak).
//!
//! Each target states its bound as `k × input + constant` next to the call to
//! [`measure`]; a violation aborts the run like a crash, with the figures in the message.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Bytes currently allocated through the global allocator.
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The highest `LIVE` since the last [`measure`] started.
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting live bytes and their peak.
pub struct Counting;

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
}

fn shrank(size: usize) {
    LIVE.fetch_sub(size, Relaxed);
}

// SAFETY: every method forwards its arguments unchanged to `System`, which upholds the
// `GlobalAlloc` contract, and returns `System`'s result unchanged; the only addition is
// arithmetic on two atomics, which neither allocates nor touches the memory handed out.
// The counts are updated only when `System` succeeded (non-null), so they always equal
// the sum of the sizes of live blocks.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's guarantees on `layout` are passed on as they are.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator (so from `System`)
        // with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and the caller guarantees `new_size` is valid for
        // `layout.align()`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            // On failure the old block stays allocated and the counts stay as they were.
            grew(new_size);
            shrank(layout.size());
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What [`measure`] saw while its closure ran.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// The highest number of bytes allocated at once, above what was live before.
    pub peak: usize,
    /// Bytes still allocated afterwards that were not before (the closure's result is
    /// dropped first).
    pub leaked: isize,
}

/// Runs `f`, dropping its result, and reports its peak allocation and what it leaked.
/// Single-threaded use only (the counts are process-wide), which is how libFuzzer runs
/// targets with `-jobs`/`-workers` as separate processes.
pub fn measure<R>(f: impl FnOnce() -> R) -> Usage {
    let before = LIVE.load(Relaxed);
    PEAK.store(before, Relaxed);
    drop(f());
    let after = LIVE.load(Relaxed);
    Usage {
        peak: PEAK.load(Relaxed) - before,
        leaked: after as isize - before as isize,
    }
}

/// Runs `f` and asserts it peaked at most `bound` bytes and leaked nothing (beyond what
/// one-time initialization keeps, see below). `what` names
/// the bound in the panic message, e.g. `"8 × input + 64 KiB"`.
///
/// With `KAFKA_ESM_FUZZ_ALLOC_STATS` set, every input that raises the highest
/// `peak / (input + 64)` ratio seen so far is printed, to calibrate bounds.
pub fn check<R>(input_len: usize, bound: usize, what: &str, f: impl FnOnce() -> R) {
    let usage = measure(f);
    if stats_enabled() {
        let ratio = usage.peak as f64 / (input_len + 64) as f64;
        let best = f64::from_bits(MAX_RATIO.load(Relaxed));
        if ratio > best {
            MAX_RATIO.store(ratio.to_bits(), Relaxed);
            eprintln!(
                "alloc stats: peak {} for {input_len} input bytes (ratio {ratio:.1}, bound {bound})",
                usage.peak
            );
        }
    }
    assert!(
        usage.peak <= bound,
        "allocated {} bytes at peak for {input_len} input bytes, over the bound {what} = {bound}",
        usage.peak
    );
    if usage.leaked > 0 {
        // Lazily initialized globals (thread-local registries, cached tables) allocate
        // once per process and are never freed; a leak allocates on every execution. So
        // a run may keep at most `RETAINED_MAX` bytes in all, which millions of executions
        // of even a one-byte leak exceed. (LeakSanitizer, with ASan, also reports any
        // block left unreachable at exit.)
        let total = RETAINED.fetch_add(usage.leaked as usize, Relaxed) + usage.leaked as usize;
        assert!(
            total <= RETAINED_MAX,
            "leaked: {} bytes kept after this input of {input_len} bytes, {total} in all",
            usage.leaked
        );
    }
}

/// Bytes kept after their execution, over the whole run.
static RETAINED: AtomicUsize = AtomicUsize::new(0);
/// What one-time initialization may keep: more is a leak.
const RETAINED_MAX: usize = 256 * KIB;

static MAX_RATIO: AtomicU64 = AtomicU64::new(0);

fn stats_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("KAFKA_ESM_FUZZ_ALLOC_STATS").is_some())
}

/// `KiB` in bytes, for bounds.
pub const KIB: usize = 1024;
