//! The ECKD hot paths allocate nothing per CCW: after a warm-up, DEFINE
//! EXTENT + LOCATE RECORD + READ DATA, and the update-write program, run
//! without a heap allocation. A counting global allocator watches this
//! test's thread only.

mod eckd_harness;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use eckd_harness::*;
use zcss_dasd::ControlUnit;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Set while the measured code runs on this thread (a const
    /// initialiser: reading it never allocates).
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if WATCHED.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: each method passes its arguments unchanged to the system
// allocator; counting does not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: the caller's layout, as the trait requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc`/`realloc` of this allocator with
        // `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: `ptr` and `layout` came from this allocator; passed on
        // unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    WATCHED.with(|w| w.set(true));
    f();
    WATCHED.with(|w| w.set(false));
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn read_and_update_write_programs_allocate_nothing() {
    assert!(
        allocations_during(|| drop(std::hint::black_box(vec![0u8; 64]))) > 0,
        "the counter sees allocations"
    );
    let mut rig = Rig::cu(ControlUnit::Model6, volume(10, first_tracks(3), 12, 4096));
    let mut read = Program::new();
    read.out(0x63, 0, &de(0x40, 0xc0, 0, (0, 0), (0, 2)));
    read.out(0x47, 0, &lr(0x06, 0x80, 14, (0, 0), 1, 0, 4096));
    for _ in 0..14 {
        read.inp(0x86, 0, 4096);
    }
    let mut write = Program::new();
    write.out(0x63, 0, &de(0x80, 0xc0, 0, (0, 0), (0, 2)));
    write.out(0x47, 0, &lr(0x01, 0x80, 2, (0, 1), 12, 0, 4096));
    write.out(0x85, 0, &[1; 4096]);
    write.out(0x85, 0, &[2; 4096]);
    read.store(&rig.mem);
    // Warm-up (the stores' buffers reach their size).
    assert!(clean(&rig.run(&read)));
    assert!(clean(&rig.run(&write)));
    let n = allocations_during(|| {
        for _ in 0..10 {
            assert!(clean(&rig.run_stored(&read)));
        }
    });
    assert_eq!(n, 0, "allocations in read programs");
    write.store(&rig.mem);
    let n = allocations_during(|| {
        for _ in 0..10 {
            assert!(clean(&rig.run_stored(&write)));
        }
    });
    assert_eq!(n, 0, "allocations in update-write programs");
}
