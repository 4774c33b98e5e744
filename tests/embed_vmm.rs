//! The acceptance embedding (`examples/embed_vmm.rs`): three CPU threads, an
//! interrupt thread on the waker, console input, a hot plug, an unplug and
//! an I/O-system reset, recorded with `Recorder::start`; every run's
//! recording replays with zero mismatches.

#[path = "../examples/embed_vmm.rs"]
#[expect(dead_code, reason = "the example's main is not called here")]
mod embed_vmm;

fn scratch(n: usize) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("zcss-embed-vmm-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn embed_vmm_runs_and_its_recording_replays_with_zero_mismatches() {
    for n in 0..20 {
        let dir = scratch(n);
        let r = embed_vmm::run(&dir);
        assert_eq!(r.console, b"login: ".to_vec());
        assert_eq!(r.typed, embed_vmm::TYPED.to_vec());
        assert_eq!(r.boot, embed_vmm::BOOT_RECORD.to_vec());
        for needle in [
            "console-input fe.0.0002 726f6f74 0a",
            "device fe.0.0003 devno=0103 virtio-blk size=32768",
            "detach fe.0.0003",
            "\nreset\n",
            "image=disk-fe.0.0000-1.img",
        ] {
            assert!(r.trace.contains(needle), "{needle:?} missing:\n{}", r.trace);
        }
        let mismatches = embed_vmm::replay_mismatches(&r.trace, &dir);
        assert_eq!(mismatches, Vec::<String>::new(), "run {n}; recording:\n{}", r.trace);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
