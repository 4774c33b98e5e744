//! The device and a write-through image together: when a channel program
//! that wrote ends, its writes are durable — another opener of the file
//! sees them before the writer flushes or closes.

mod common;
mod eckd_harness;

use common::{spec, TempDir};
use eckd_harness::*;
use zcss_dasd::image::{create, Compression, CreateOptions, Format};
use zcss_dasd::track::{Records, TrackAddr};
use zcss_dasd::{DasdConfig, Model, OpenOptions};

/// Formats track 0/1 with two 4 KiB records and writes them, through a
/// device on a write-through image; returns the data record 2 must hold.
fn write_program() -> (Program, Vec<u8>) {
    let t = TrackAddr::new(0, 1);
    let data = pattern(t, 2, 4096);
    let mut p = Program::new();
    p.out(0x63, 0, &de(0xc0, 0xc0, 4096, (0, 1), (0, 1)));
    p.out(0x47, 0, &lr(0x03, 0x80, 2, (0, 1), 0, 0, 4096));
    let mut r1 = count(0, 1, 1, 0, 4096).to_vec();
    r1.extend(pattern(t, 1, 4096));
    p.out(0x1d, 0, &r1);
    let mut r2 = count(0, 1, 2, 0, 4096).to_vec();
    r2.extend(&data);
    p.out(0x1d, 0, &r2);
    (p, data)
}

#[test]
fn write_through_image_holds_a_program_s_writes_when_it_ends() {
    let dir = TempDir::new("eckd-durable");
    for f in [Format::Ckd { split: false }, Format::Cckd(Compression::Zlib)] {
        let path = dir.join(&format!("vol-{f:?}").replace(['{', '}', ' ', ':', '(', ')'], ""));
        create(
            &path,
            &spec(10, "DUR001", false),
            &CreateOptions::new(f),
            &mut |_, _| {},
        )
        .unwrap();
        let store = zcss_dasd::open_store(&path, &OpenOptions::read_write().write_through(true), Model::M1).unwrap();
        let mut rig = Rig::with(
            DasdConfig {
                model: Model::M1,
                ..DasdConfig::default()
            },
            store,
        );
        let (p, data) = write_program();
        let c = rig.run(&p);
        assert!(clean(&c), "{f:?}: {c:?}");
        // The writer is still open and has not flushed: a reader opening
        // the file now must see both records.
        let mut reader = zcss_dasd::open_store(&path, &OpenOptions::read_only(), Model::M1).unwrap();
        let img = reader.read(TrackAddr::new(0, 1)).unwrap().to_vec();
        let recs: Vec<_> = Records::new(&img).map(Result::unwrap).collect();
        assert_eq!(recs.len(), 3, "{f:?}: R0, R1, R2 on disk");
        assert_eq!(&img[recs[2].data_offset()..recs[2].end()], &data[..], "{f:?}");
        drop(rig);
    }
}
