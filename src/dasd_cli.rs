//! `zcss dasd`: create, format and list 3390 volume images (Hercules CKD
//! and CCKD).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgGroup, Args, Subcommand};
use parking_lot::Mutex;
use zcss_ccw::sid::SubchannelId;
use zcss_ccw::VecMemory;
use zcss_css::{Css, CssConfig};
use zcss_dasd::image::{create, Compression, CreateOptions, Format, ImageInfo, ImageKind};
use zcss_dasd::layout::{read_label, read_vtoc, DscbDate, VolumeLabel, VolumeSpec, VtocListing};
use zcss_dasd::linux::{CssChannel, DasdfmtOptions, DiskLayout, DriverError, Layout, LinuxDasd, AREA_LEN};
use zcss_dasd::track::{Records, TrackAddr};
use zcss_dasd::{ControlUnit, Dasd, DasdConfig, Image, Model, OpenOptions, StoreError, TrackStore, Volser};

use super::{EXIT_IO, EXIT_OK, EXIT_USAGE};

/// The `dasd` subcommands.
#[derive(Debug, Subcommand)]
pub enum DasdCommand {
    /// Create a volume as Hercules' dasdinit does: home address and R0 on
    /// every track, IPL1, IPL2 and VOL1 on track 0.
    Init(InitArgs),
    /// List a volume: its image, label, VTOC and the records of its tracks.
    Ls(LsArgs),
    /// Format a volume for Linux as dasdfmt does — through the channel
    /// programs Linux's DASD driver issues, run on the emulated 3390 — and,
    /// with --partition, give it one partition as `fdasd -a` does.
    Format(FormatArgs),
}

/// `zcss dasd format`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("layout").required(true).args(["cdl", "ldl"])))]
pub struct FormatArgs {
    /// The image file (the first file of a split volume).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Compatible disk layout (dasdfmt -d cdl): special records on tracks 0
    /// and 1, a volume label VOL1 and a VTOC.
    #[arg(long)]
    cdl: bool,
    /// Linux disk layout (dasdfmt -d ldl): every track the same, a volume
    /// label LNX1.
    #[arg(long)]
    ldl: bool,
    /// Volume serial (default: 0X and the device number, 0X0120, as
    /// dasdfmt).
    #[arg(long, value_parser = parse_volser)]
    volser: Option<Volser>,
    /// Write a VTOC with one partition over the volume, as `fdasd -a`
    /// (CDL only).
    #[arg(long, conflicts_with = "ldl")]
    partition: bool,
    /// Block size (dasdfmt -b).
    #[arg(long, default_value_t = 4096, value_parser = parse_block_size)]
    blocksize: u16,
    /// The storage control the 3390 is formatted through: the 3990-6 gets
    /// PREFIX channel programs, the 3990 and 3990-3 DEFINE EXTENT and
    /// LOCATE RECORD.
    #[arg(long, value_parser = parse_cu, default_value = "3990-6")]
    cu: ControlUnit,
}

/// `zcss dasd init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The image file to create (the first file of a split volume is
    /// FILE with _1 before its extension).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The 3390 model: 3390-1, -2, -3, -9, -27 or -54 (or just the number).
    #[arg(long, value_parser = parse_model, default_value = "3390-3")]
    model: Model,
    /// Volume serial: 1 to 6 letters, digits or @ # $ -.
    #[arg(long, value_parser = parse_volser)]
    volser: Volser,
    /// A compressed image (CKD_C370, zlib) instead of a plain one
    /// (CKD_P370).
    #[arg(long)]
    cckd: bool,
    /// Cylinders, when not the model's (up to its alternate cylinders
    /// beyond).
    #[arg(long)]
    cylinders: Option<u32>,
    /// Empty tracks as Linux dasdfmt leaves them (twelve 4 KiB records) and
    /// an empty VTOC on track 1 (dasdinit -linux).
    #[arg(long)]
    linux: bool,
    /// Split a plain image into files of at most 2 GiB (dasdinit without
    /// -lfs).
    #[arg(long, conflicts_with = "cckd")]
    split: bool,
    /// Store the tracks of a compressed image uncompressed (dasdinit -0).
    #[arg(long, requires = "cckd")]
    uncompressed: bool,
}

/// `zcss dasd ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// The image file (the first file of a split volume).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Skip reading every track (label and VTOC only).
    #[arg(long)]
    no_tracks: bool,
}

fn parse_model(s: &str) -> Result<Model, String> {
    let n = s.strip_prefix("3390-").unwrap_or(s);
    n.parse::<u32>()
        .ok()
        .and_then(Model::from_number)
        .ok_or_else(|| format!("{s:?} is not a 3390 model (3390-1, -2, -3, -9, -27, -54)"))
}

fn parse_volser(s: &str) -> Result<Volser, String> {
    Volser::new(s).map_err(|e| e.to_string())
}

fn parse_block_size(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(b @ (512 | 1024 | 2048 | 4096)) => Ok(b),
        _ => Err(format!("{s:?} is not a block size (512, 1024, 2048, 4096)")),
    }
}

fn parse_cu(s: &str) -> Result<ControlUnit, String> {
    ControlUnit::from_name(s).ok_or_else(|| format!("{s:?} is not a storage control (3990, 3990-3, 3990-6)"))
}

/// Runs a `dasd` subcommand; returns the exit status.
pub fn run(cmd: DasdCommand) -> u8 {
    match cmd {
        DasdCommand::Init(a) => init(&a),
        DasdCommand::Ls(a) => ls(&a),
        DasdCommand::Format(a) => format(&a),
    }
}

/// A progress bar on stderr, shown only on a terminal and once the work
/// has taken a moment.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    fn new(what: &str, total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::hidden());
            if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} tracks ({eta})") {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(what.to_owned());
            bar
        });
        Self { bar }
    }

    fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            if bar.is_hidden() && bar.elapsed() > Duration::from_millis(300) {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            bar.set_position(done);
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

fn init(a: &InitArgs) -> u8 {
    let cylinders = a.cylinders.unwrap_or_else(|| a.model.cylinders());
    let max = a.model.cylinders() + a.model.alternate_cylinders();
    if cylinders == 0 || cylinders > max {
        eprintln!("zcss: a {} has 1 to {max} cylinders, not {cylinders}", a.model);
        return EXIT_USAGE;
    }
    let spec = VolumeSpec {
        cylinders,
        volser: a.volser,
        linux: a.linux,
    };
    let format = if a.cckd {
        Format::Cckd(if a.uncompressed {
            Compression::None
        } else {
            Compression::Zlib
        })
    } else {
        Format::Ckd { split: a.split }
    };
    let progress = Progress::new(&a.file.display().to_string(), spec.tracks());
    let res = create(&a.file, &spec, &CreateOptions::new(format), &mut |done, _| {
        progress.set(done)
    });
    progress.finish();
    match res {
        Ok(files) => {
            for f in &files {
                outln!("{}", f.display());
            }
            outln!(
                "{}: {} volume {}, {cylinders} cylinders, {} tracks",
                files[0].display(),
                Model::for_image_cylinders(cylinders).unwrap_or(a.model),
                a.volser,
                spec.tracks()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("zcss: {e}");
            EXIT_IO
        }
    }
}

/// The device number the formatting machine gives the volume (it names
/// the default volume serial, `0X0120`).
const FORMAT_DEVNO: u16 = 0x0120;
/// Guest storage of the formatting machine: the driver's area and nothing
/// else.
const FORMAT_MEMORY: u64 = 2 * AREA_LEN;

/// An image the css's device and this tool share: the device writes
/// through it, the tool closes it afterwards (reporting what the final
/// commit did).
struct SharedImage {
    img: Arc<Mutex<Image>>,
    track: Vec<u8>,
}

impl TrackStore for SharedImage {
    fn cylinders(&self) -> u32 {
        self.img.lock().cylinders()
    }

    fn read(&mut self, t: TrackAddr) -> Result<&[u8], StoreError> {
        let mut img = self.img.lock();
        let data = img.read(t)?;
        self.track.clear();
        self.track.extend_from_slice(data);
        Ok(&self.track)
    }

    fn write(&mut self, t: TrackAddr, image: &[u8]) -> Result<(), StoreError> {
        self.img.lock().write(t, image)
    }

    fn update(&mut self, t: TrackAddr, offset: usize, data: &[u8]) -> Result<(), StoreError> {
        self.img.lock().update(t, offset, data)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.img.lock().flush()
    }

    fn sync_point(&mut self) -> Result<(), StoreError> {
        self.img.lock().sync_point()
    }

    fn max_track_len(&self) -> usize {
        self.img.lock().max_track_len()
    }
}

/// What `zcss dasd format` did.
struct Formatted {
    model: Model,
    cylinders: u32,
    layout: Layout,
    volser: String,
    partition: Option<String>,
}

fn format(a: &FormatArgs) -> u8 {
    match format_volume(a) {
        Ok(f) => {
            let part = f.partition.map_or_else(String::new, |p| format!(", partition {p}"));
            outln!(
                "{}: {} formatted {}, {} cylinders, {} tracks, volume {}{part}",
                a.file.display(),
                f.model,
                f.layout,
                f.cylinders,
                Model::tracks(f.cylinders),
                f.volser
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("zcss: {}: {e}", a.file.display());
            EXIT_IO
        }
    }
}

/// Why formatting failed.
#[derive(Debug, thiserror::Error)]
enum FormatError {
    #[error("{0}")]
    Image(#[from] zcss_dasd::ImageError),
    #[error("{0} cylinders make no 3390 model")]
    NoModel(u32),
    #[error("{0}")]
    Css(#[from] zcss_css::CssError),
    #[error("{0}")]
    Driver(#[from] DriverError),
    #[error("formatted, but the volume is {0}")]
    Result(Layout),
    #[error("closing the image: {0}")]
    Close(#[from] StoreError),
}

/// Opens the image, attaches it as a 3390 to a channel subsystem, and
/// runs Linux's DASD driver on it: online, dasdfmt, fdasd -a.
fn format_volume(a: &FormatArgs) -> Result<Formatted, FormatError> {
    let img = Image::open(&a.file, &OpenOptions::read_write())?;
    let cylinders = img.cylinders();
    let model = img.info().model.ok_or(FormatError::NoModel(cylinders))?;
    let shared = Arc::new(Mutex::new(img));
    let cfg = DasdConfig {
        model,
        cu: a.cu,
        ..DasdConfig::for_devno(FORMAT_DEVNO)
    };
    let dev = Dasd::new(
        cfg,
        Box::new(SharedImage {
            img: shared.clone(),
            track: Vec::new(),
        }),
    );
    let css = Css::new(CssConfig::default());
    let sid = SubchannelId {
        cssid: css.config().default_cssid,
        ssid: 0,
        schno: 0,
    };
    css.attach_cold(sid, FORMAT_DEVNO, Box::new(dev))?;
    let mem = Arc::new(VecMemory::new(FORMAT_MEMORY));
    let mut d = LinuxDasd::new(CssChannel::new(css.clone(), mem, sid), AREA_LEN);
    d.online()?;
    let opts = DasdfmtOptions {
        layout: if a.ldl { DiskLayout::Ldl } else { DiskLayout::Cdl },
        block_size: a.blocksize,
        volser: a.volser,
        ..DasdfmtOptions::default()
    };
    let progress = Progress::new(&a.file.display().to_string(), u64::from(d.tracks()));
    let layout = d.dasdfmt(&opts, &mut |done, _| progress.set(done));
    progress.finish();
    let layout = layout?;
    let expected = match opts.layout {
        DiskLayout::Cdl => Layout::Cdl(a.blocksize),
        DiskLayout::Ldl => Layout::Ldl(a.blocksize),
    };
    if layout != expected {
        return Err(FormatError::Result(layout));
    }
    let label = d.read_bytes(2 * u64::from(a.blocksize), 84)?;
    let at = if a.ldl { 4 } else { 8 };
    let mut vs = [0u8; 6];
    vs.copy_from_slice(&label[at..at + 6]);
    let volser = Volser::from_ebcdic(vs);
    let partition = if a.partition {
        d.fdasd_auto(DscbDate::today())?;
        Some(zcss_dasd::layout::CdlVtoc::new(volser, cylinders).partition_name())
    } else {
        None
    };
    drop(d);
    drop(css);
    // The device went with the css: the image is the tool's again, and
    // closing it reports the final commit (a handle still shared could
    // only be flushed).
    match Arc::try_unwrap(shared) {
        Ok(img) => img.into_inner().close()?,
        Err(shared) => shared.lock().flush()?,
    }
    Ok(Formatted {
        model,
        cylinders,
        layout,
        volser: volser.as_str().trim_end().to_owned(),
        partition,
    })
}

fn ls(a: &LsArgs) -> u8 {
    let mut img = match Image::open(&a.file, &OpenOptions::read_only()) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("zcss: {e}");
            return EXIT_IO;
        }
    };
    let info = img.info();
    out!("{}", describe_image(&a.file, &info));
    let label = match read_label(&mut img) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zcss: {}: {e}", a.file.display());
            return EXIT_IO;
        }
    };
    let Some(label) = label else {
        outln!("label   none (no VOL1 in track 0 record 3)");
        return finish_tracks(a, &mut img);
    };
    out!("{}", describe_label(&label));
    match read_vtoc(&mut img, &label) {
        Ok(Some(v)) => out!("{}", describe_vtoc(&v)),
        Ok(None) => outln!("vtoc    none (no format-4 DSCB where VOL1 points)"),
        Err(e) => {
            eprintln!("zcss: {}: {e}", a.file.display());
            return EXIT_IO;
        }
    }
    finish_tracks(a, &mut img)
}

fn finish_tracks(a: &LsArgs, img: &mut Image) -> u8 {
    if a.no_tracks {
        return EXIT_OK;
    }
    match layouts(img) {
        Ok(s) => {
            out!("{s}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("zcss: {}: {e}", a.file.display());
            EXIT_IO
        }
    }
}

fn describe_image(path: &Path, i: &ImageInfo) -> String {
    let kind = match (i.kind, i.compression) {
        (ImageKind::Compressed, Some(Compression::Zlib)) => "CKD_C370 (compressed, zlib)".to_owned(),
        (ImageKind::Compressed, _) => "CKD_C370 (compressed, stored uncompressed)".to_owned(),
        (ImageKind::Plain, _) if i.files.len() > 1 => format!("CKD_P370 in {} files", i.files.len()),
        (ImageKind::Plain, _) => "CKD_P370".to_owned(),
        (ImageKind::Shadow, _) => "CKD_S370".to_owned(),
    };
    let model = i.model.map_or_else(|| "no 3390 model".to_owned(), |m| m.to_string());
    let mut s = format!(
        "image   {}: {kind}, {model}, {} cylinders, {} tracks\n",
        path.display(),
        i.cylinders,
        Model::tracks(i.cylinders)
    );
    if let Some(n) = i.null_format {
        let _ = writeln!(s, "        null track format {n}");
    }
    s
}

fn describe_label(l: &VolumeLabel) -> String {
    let (t, r) = l.vtoc;
    let owner = if l.owner.is_empty() {
        String::new()
    } else {
        format!(", owner {}", l.owner)
    };
    format!("label   {} {}, VTOC at {t} record {r}{owner}\n", l.label, l.volser)
}

fn describe_vtoc(v: &VtocListing) -> String {
    let (lo, hi) = v.extent;
    let mut s = format!(
        "vtoc    {lo}-{hi}, {} DSCBs per track, {} unused, {} cylinders\n",
        v.dscbs_per_track, v.free_dscbs, v.cylinders
    );
    if v.data_sets.is_empty() {
        s.push_str("        no data sets\n");
    }
    for d in &v.data_sets {
        let ext: Vec<String> = d.extents.iter().map(|(a, b)| format!("{a}-{b}")).collect();
        let _ = writeln!(s, "        {:<44} {:>8} tracks  {}", d.name, d.tracks(), ext.join(", "));
    }
    s
}

/// Records per track over the volume: each distinct layout (key and data
/// lengths of R1…Rn) with its number of tracks and first track.
fn layouts(img: &mut Image) -> Result<String, zcss_dasd::StoreError> {
    let tracks = Model::tracks(img.cylinders());
    let progress = Progress::new("reading", tracks);
    let mut seen: HashMap<Vec<(u8, u16)>, (u64, TrackAddr)> = HashMap::new();
    let mut sig = Vec::new();
    for n in 0..tracks {
        let t = TrackAddr::from_index(n);
        sig.clear();
        for r in Records::new(img.read(t)?).skip(1) {
            let c = r
                .map_err(|source| zcss_dasd::StoreError::Format { track: t, source })?
                .count;
            sig.push((c.kl, c.dl));
        }
        match seen.get_mut(&sig) {
            Some(e) => e.0 += 1,
            None => {
                seen.insert(sig.clone(), (1, t));
            }
        }
        if n % 512 == 0 {
            progress.set(n);
        }
    }
    progress.finish();
    let mut rows: Vec<_> = seen.into_iter().collect();
    rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.1 .1.cmp(&b.1 .1)));
    let mut s = String::from("tracks  records after R0 (key/data lengths)\n");
    const SHOWN: usize = 24;
    for (sig, (count, first)) in rows.iter().take(SHOWN) {
        let at = if *count == 1 {
            format!("  (track {first})")
        } else {
            format!("  (first {first})")
        };
        let _ = writeln!(s, "{count:>8}  {}{at}", describe_layout(sig));
    }
    if rows.len() > SHOWN {
        let rest: u64 = rows[SHOWN..].iter().map(|r| r.1 .0).sum();
        let _ = writeln!(s, "{rest:>8}  in {} other layouts", rows.len() - SHOWN);
    }
    Ok(s)
}

/// `12 × 4096`, `3 × 4/80, 2 × 0` … or `none (HA and R0 only)`.
fn describe_layout(sig: &[(u8, u16)]) -> String {
    if sig.is_empty() {
        return "none (HA and R0 only)".to_owned();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sig.len() {
        let run = sig[i..].iter().take_while(|&&x| x == sig[i]).count();
        let (kl, dl) = sig[i];
        let one = if kl == 0 { dl.to_string() } else { format!("{kl}/{dl}") };
        parts.push(if run == 1 { one } else { format!("{run} × {one}") });
        i += run;
    }
    let n = sig.len();
    format!("{n} record{}: {}", if n == 1 { "" } else { "s" }, parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_are_described_by_runs() {
        assert_eq!(describe_layout(&[]), "none (HA and R0 only)");
        assert_eq!(describe_layout(&[(0, 4096); 12]), "12 records: 12 × 4096");
        assert_eq!(
            describe_layout(&[(4, 24), (4, 144), (4, 80)]),
            "3 records: 4/24, 4/144, 4/80"
        );
        assert_eq!(describe_layout(&[(0, 0)]), "1 record: 0");
    }

    #[test]
    fn init_then_ls_lists_what_init_wrote() {
        let dir = std::env::temp_dir().join(format!("zcss-cli-dasd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("v.cckd");
        let _ = std::fs::remove_file(&file);
        let args = InitArgs {
            file: file.clone(),
            model: Model::M1,
            volser: Volser::new("CLI001").unwrap(),
            cckd: true,
            cylinders: Some(5),
            linux: true,
            split: false,
            uncompressed: false,
        };
        assert_eq!(init(&args), EXIT_OK);
        assert_eq!(init(&args), EXIT_IO, "an existing image is not overwritten");
        let too_big = InitArgs {
            cylinders: Some(1115),
            file: dir.join("w.cckd"),
            ..args
        };
        assert_eq!(init(&too_big), EXIT_USAGE);
        let mut img = Image::open(&file, &OpenOptions::read_only()).unwrap();
        let label = read_label(&mut img).unwrap().unwrap();
        assert_eq!(
            describe_label(&label),
            "label   VOL1 CLI001, VTOC at 0/1 record 1, owner HERCULES\n"
        );
        let v = read_vtoc(&mut img, &label).unwrap().unwrap();
        assert!(describe_vtoc(&v).contains("12 DSCBs per track, 10 unused, 5 cylinders"));
        let l = layouts(&mut img).unwrap();
        assert!(l.contains("      73  12 records: 12 × 4096  (first 0/2)"), "{l}");
        assert!(l.contains("       1  12 records: 12 × 44/96  (track 0/1)"), "{l}");
        let a = LsArgs {
            file: file.clone(),
            no_tracks: false,
        };
        assert_eq!(ls(&a), EXIT_OK);
        let missing = LsArgs {
            file: dir.join("none"),
            no_tracks: true,
        };
        assert_eq!(ls(&missing), EXIT_IO);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn models_parse_with_or_without_the_type() {
        assert_eq!(parse_model("3390-9"), Ok(Model::M9));
        assert_eq!(parse_model("27"), Ok(Model::M27));
        assert!(parse_model("3380-3").is_err());
        assert!(parse_model("3390-4").is_err());
    }
}
