//! The instruction hot paths allocate nothing: after a warm-up, SSCH→TSCH
//! round trips, STSCH over present and absent subchannels, TPI and
//! next_interrupt perform no heap allocation. A counting global allocator
//! watches; it counts only on the test's own thread (the test harness's
//! threads may allocate at any time, e.g. under load).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use zcss_ccw::device::{CcwDevice, DeviceResult};
use zcss_ccw::memory::VecMemory;
use zcss_ccw::{Ccw, DataStream};
use zcss_css::{Cc, Css, CssConfig, Device, DeviceInfo, IoCtx, SubchannelId};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether allocations on this thread are counted (const-initialised,
    /// so reading it never allocates).
    static COUNTED: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTED.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to the system allocator with the caller's
// arguments unchanged; the counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout, as GlobalAlloc requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `alloc` above with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded unchanged; `ptr`/`layout` come from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Nop;

impl CcwDevice for Nop {
    fn execute(&mut self, _ccw: &Ccw, _data: &mut DataStream<'_>) -> DeviceResult {
        DeviceResult::OK
    }
}

impl Device for Nop {
    fn info(&self) -> DeviceInfo {
        DeviceInfo::virtual_device(0x3832, 1)
    }
}

#[test]
fn hot_paths_do_not_allocate_after_warm_up() {
    let css = Css::new(CssConfig::default());
    let sid = SubchannelId {
        cssid: 0xfe,
        ssid: 0,
        schno: 0,
    };
    css.attach_cold(sid, 0, Box::new(Nop)).unwrap();
    let mem = VecMemory::new(1 << 16);
    let ctx = IoCtx::new(&mem);
    let gr1 = 0x0001_0000;
    assert_eq!(css.stsch(&ctx, gr1, 0x1000), Ok(Cc::Zero));
    let mut w1 = mem.fetch(0x1004, 2).unwrap();
    w1[0] |= 3 << 3;
    w1[1] |= 0x80;
    mem.store(0x1004, &w1).unwrap();
    assert_eq!(css.msch(&ctx, gr1, 0x1000), Ok(Cc::Zero));
    mem.store(0x2000, &[0x03, 0x20, 0, 0, 0, 0, 0, 0]).unwrap();
    mem.store(0x1800, &[0, 0, 0, 1, 0x00, 0x80, 0x80, 0x00, 0, 0, 0x20, 0x00])
        .unwrap();
    let round = || {
        assert_eq!(css.ssch(&ctx, gr1, 0x1800), Ok(Cc::Zero));
        assert_eq!(css.tpi(&ctx, 0x3000, 0xff), Ok(Cc::One));
        assert_eq!(css.tsch(&ctx, gr1, 0x3100), Ok(Cc::Zero));
        assert_eq!(css.ssch(&ctx, gr1, 0x1800), Ok(Cc::Zero));
        assert!(css.next_interrupt(0xff).is_some());
        assert_eq!(css.tsch(&ctx, gr1, 0x3100), Ok(Cc::Zero));
        assert_eq!(css.stsch(&ctx, gr1, 0x1000), Ok(Cc::Zero));
        assert_eq!(css.stsch(&ctx, gr1 | 0x1234, 0x1000), Ok(Cc::Three));
        assert_eq!(css.stsch(&ctx, 0x0003_0000, 0x1000), Ok(Cc::Three));
    };
    round();
    COUNTED.with(|c| c.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..1000 {
        round();
    }
    COUNTED.with(|c| c.set(false));
    assert_eq!(
        ALLOCS.load(Ordering::Relaxed) - before,
        0,
        "allocations on the hot path"
    );
}
