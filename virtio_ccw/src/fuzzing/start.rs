//! [`VirtioStart`]: a virtio-ccw channel program for the fuzz harness —
//! an optional driver set-up sequence (the order virtio 1.x §4.3.2
//! "Device Initialization" gives) and arbitrary commands after it, with
//! payloads mostly well formed (ring and indicator addresses inside the
//! subchannel's writable area, exact counts) and a tunable share of hostile
//! ones ([`VirtioGen::hostile_per_256`]).

use arbitrary::{Arbitrary, Unstructured};
use zcss_ccw::generate::{LaidOut, Layout};
use zcss_ccw::orb::{Orb, OrbControls};
use zcss_ccw::{Ccw0, Ccw1, CcwFlags};
use zcss_css::fuzz::{Start, STORAGE};

use super::{BUFFERS, INDICATORS, PAYLOADS, PAYLOAD_ROOM, RINGS};
use crate::blk::{VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT};
use crate::commands::*;
use crate::queue::{legacy_offsets, Endian, LEGACY_ALIGN, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};

/// Most CCWs of one start (set-up and commands, data chaining included).
pub const MAX_CCWS: usize = 40;
/// Most commands after the set-up.
const MAX_COMMANDS: usize = 12;
/// Most queues a set-up enables.
const MAX_SETUP_QUEUES: usize = 3;
/// Indicator doublewords.
const INDICATOR_SLOTS: u64 = 32;
/// Ring slots of 512 bytes (a [`VqSpec`]'s addresses).
const RING_SLOTS: u64 = 48;
/// Buffer slots of 256 bytes.
const BUFFER_SLOTS: u64 = 16;
/// Distance between the queues a [`Setup`] places: modern and legacy.
const SETUP_STRIDE: u64 = 0x2000;
const SETUP_LEGACY_STRIDE: u64 = 0x3000;
/// Device status bits (virtio 1.x §2.1).
const ACKNOWLEDGE_DRIVER: u8 = 0x03;
const FEATURES_OK: u8 = 0x08;
const DRIVER_OK: u8 = 0x04;
/// Feature bits a set-up may ask for (page 0): blk SEG_MAX, RO, BLK_SIZE,
/// FLUSH; console SIZE and MULTIPORT.
const SETUP_FEATURES: u32 = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 5) | (1 << 6) | (1 << 9);

/// How starts are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VirtioGen {
    /// Share of hostile starts, in 255ths: their addresses may be
    /// misaligned, outside the writable area or outside storage, their
    /// counts wrong, their sizes and revisions any value.
    pub hostile_per_256: u8,
}

impl Default for VirtioGen {
    /// One start in eight hostile.
    fn default() -> Self {
        Self { hostile_per_256: 32 }
    }
}

/// An address the guest gives the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Addr {
    /// Slot `n` (modulo the slots) of its area.
    Slot(u8),
    /// Zero (the command's "off": no queue, no indicator).
    Zero,
    /// Hostile: slot `.0` plus 1 to 15 bytes (misaligned).
    Misaligned(u8, u8),
    /// Hostile: this many doublewords past the end of storage.
    Beyond(u16),
    /// Hostile: any 64 bits.
    Raw(u64),
}

impl Addr {
    /// The address in an area at `base` of `slots` slots of `size` bytes;
    /// a well-formed start takes the slot of any hostile form.
    fn at(self, base: u64, slots: u64, size: u64, hostile: bool) -> u64 {
        let slot = |n: u8| base + (u64::from(n) % slots) * size;
        match (self, hostile) {
            (Self::Slot(n), _) => slot(n),
            (Self::Zero, _) => 0,
            (Self::Misaligned(n, d), true) => slot(n) + 1 + u64::from(d % 15),
            (Self::Beyond(n), true) => STORAGE + 8 * u64::from(n),
            (Self::Raw(a), true) => a,
            (Self::Misaligned(n, _), false) => slot(n),
            (Self::Beyond(n), false) => slot(n.to_be_bytes()[1]),
            (Self::Raw(a), false) => slot(a.to_be_bytes()[7]),
        }
    }
}

/// What a chain's first buffer holds.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Head {
    /// A virtio-blk request header (virtio 1.x §5.2.6): type IN, OUT,
    /// FLUSH or GET_ID (any 32 bits when hostile), sector.
    Blk {
        /// The type, as an index into IN, OUT, FLUSH, GET_ID.
        kind: u8,
        /// The sector.
        sector: u16,
    },
    /// These bytes (at most 32).
    Bytes(Vec<u8>),
}

/// One descriptor of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Desc {
    /// The buffer slot (modulo the slots).
    pub buf: u8,
    /// The length (cut to the buffer area unless hostile).
    pub len: u16,
    /// Device-writable (VIRTQ_DESC_F_WRITE).
    pub write: bool,
}

/// A descriptor chain the guest offers: its descriptors and what the
/// first buffer holds.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Chain {
    /// The content of the first buffer.
    pub head: Head,
    /// The first descriptor.
    pub first: Desc,
    /// The descriptors after it (at most 3 used).
    pub more: Vec<Desc>,
}

/// A virtqueue the guest sets up with SET_VQ at addresses it chooses.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct VqSpec {
    /// The queue index (modulo 4 unless hostile).
    pub index: u16,
    /// The size: 2^(num mod 9), or for the legacy layout 64 or 256 (any
    /// value when hostile).
    pub num: u16,
    /// The legacy layout (revision 0: `{queue, align, index, num}`).
    pub legacy: bool,
    /// Descriptor table (the legacy layout's base, 4K aligned).
    pub desc: Addr,
    /// Available ring.
    pub avail: Addr,
    /// Used ring.
    pub used: Addr,
    /// The chains offered in the rings (laid out before the start when
    /// the addresses are slots).
    pub fill: Vec<Chain>,
}

/// A queue a [`Setup`] enables at its own place.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct QueueSpec {
    /// The size, as [`VqSpec::num`].
    pub num: u8,
    /// The chains offered.
    pub fill: Vec<Chain>,
}

/// A driver's set-up sequence: SET_VIRTIO_REV, status ACKNOWLEDGE|DRIVER,
/// READ_FEAT and WRITE_FEAT (page 1 with VERSION_1 for revision ≥ 1),
/// FEATURES_OK, per queue READ_VQ_CONF and SET_VQ, SET_IND or
/// SET_IND_ADAPTER, SET_CONF_IND, DRIVER_OK.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Setup {
    /// The revision (modulo 3): 0 legacy, big-endian rings.
    pub revision: u8,
    /// Driver features of page 0: when 0 modulo 4, some of the blk and
    /// console bits it has; else none.
    pub features: u32,
    /// The queues (at most 3).
    pub queues: Vec<QueueSpec>,
    /// Adapter indicators (revision ≥ 1): summary slot, indicator slot,
    /// first bit, ISC.
    pub adapter: Option<(u8, u8, u8, u8)>,
    /// The classic queue indicator slot.
    pub indicator: u8,
    /// The configuration-change indicator slot.
    pub config_indicator: u8,
}

/// One virtio-ccw command with its payload.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub enum Command {
    /// SET_VIRTIO_REV `{revision, length}` (revision mod 3 and length 0
    /// unless hostile).
    SetRev(u16, u16),
    /// READ_FEAT of a page (0 or 1 unless hostile).
    ReadFeat(u8),
    /// WRITE_FEAT: features, page.
    WriteFeat(u32, u8),
    /// READ_CONF of this many bytes (at least 1).
    ReadConf(u8),
    /// WRITE_CONF of these bytes (at most 64).
    WriteConf(Vec<u8>),
    /// WRITE_STATUS.
    WriteStatus(u8),
    /// READ_STATUS.
    ReadStatus,
    /// SET_VQ.
    SetVq(VqSpec),
    /// READ_VQ_CONF of a queue (0..4 unless hostile).
    ReadVqConf(u16),
    /// SET_IND.
    SetInd(Addr),
    /// SET_CONF_IND.
    SetConfInd(Addr),
    /// SET_IND_ADAPTER: summary, indicator, first bit, ISC (mod 8 unless
    /// hostile).
    SetIndAdapter(Addr, Addr, u8, u8),
    /// VDEV_RESET.
    Reset,
    /// NO-OPERATION.
    Nop,
    /// SENSE ID.
    SenseId,
    /// BASIC SENSE.
    Sense,
    /// Any command code with this payload (at most 64 bytes).
    Raw(u8, Vec<u8>),
}

/// How a command's CCW is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Arbitrary)]
pub enum Variant {
    /// Exact count, command-chained to the next.
    Plain,
    /// SLI set.
    Sli,
    /// The payload split in two CCWs at this byte, data-chained.
    Split(u8),
    /// The chain ends here (no command chaining).
    End,
    /// The data address plus 1 to 7 (any data address is valid).
    Misaligned(u8),
    /// PCI set.
    Pci,
    /// Hostile: the count plus this (wrapping).
    Count(i8),
    /// Hostile: the data address past the end of storage.
    Beyond(u16),
    /// Hostile: SKIP set.
    Skip,
}

/// One command of a start and how its CCW is built.
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct VirtioCcw {
    /// The command and its payload.
    pub command: Command,
    /// The CCW's form.
    pub variant: Variant,
}

/// A virtio-ccw start: ORB and the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtioStart {
    /// Interruption parameter.
    pub intparm: u32,
    /// Format-0 CCWs (else format 1, as Linux issues).
    pub format0: bool,
    /// The set-up sequence first, if any.
    pub setup: Option<Setup>,
    /// The commands after it (at most 12).
    pub commands: Vec<VirtioCcw>,
    /// Whether the start's hostile forms apply.
    pub hostile: bool,
}

impl<'a> Arbitrary<'a> for VirtioStart {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Self::arbitrary_with(u, VirtioGen::default())
    }
}

impl VirtioStart {
    /// Draws a start with `cfg`'s share of hostile ones.
    ///
    /// # Errors
    /// When `u` runs out in a way `arbitrary` reports.
    pub fn arbitrary_with(u: &mut Unstructured<'_>, cfg: VirtioGen) -> arbitrary::Result<Self> {
        let intparm = u32::arbitrary(u)?;
        let format0 = u.ratio(1u8, 8u8)?;
        let setup = if u.ratio(1u8, 3u8)? {
            Some(Setup::arbitrary(u)?)
        } else {
            None
        };
        let n = u.int_in_range(usize::from(setup.is_none())..=MAX_COMMANDS)?;
        let mut commands = Vec::with_capacity(n);
        for _ in 0..n {
            commands.push(VirtioCcw::arbitrary(u)?);
        }
        let hostile = cfg.hostile_per_256 > 0 && u.ratio(cfg.hostile_per_256, 255u8)?;
        Ok(Self {
            intparm,
            format0,
            setup,
            commands,
            hostile,
        })
    }

    /// The commands in program order, the set-up's first: command code,
    /// payload, CCW form, and the stores that go with it (ring contents).
    fn program(&self, at: &Layout) -> Vec<Encoded> {
        let mut out = Vec::new();
        if let Some(s) = &self.setup {
            s.commands(at, &mut out);
        }
        for c in self.commands.iter().take(MAX_COMMANDS) {
            let mut e = c.command.encode(at, self.hostile);
            e.variant = if self.hostile { c.variant } else { c.variant.tame() };
            out.push(e);
        }
        out
    }
}

impl Variant {
    /// The variant without its hostile forms.
    const fn tame(self) -> Self {
        match self {
            Self::Count(_) | Self::Beyond(_) | Self::Skip => Self::Plain,
            v => v,
        }
    }
}

/// A command as laid out: code, payload (for a read command what its data
/// area holds before: the index a READ_FEAT or READ_VQ_CONF names), the
/// stores that go with it (ring contents), and its CCW form.
struct Encoded {
    cmd: u8,
    payload: Vec<u8>,
    stores: Vec<(u64, Vec<u8>)>,
    variant: Variant,
}

/// Context of the encoding: where things go.
struct Place<'a> {
    at: &'a Layout,
    hostile: bool,
}

impl Place<'_> {
    fn indicator(&self, a: Addr) -> u64 {
        a.at(self.at.data + INDICATORS, INDICATOR_SLOTS, 8, self.hostile)
    }

    fn ring(&self, a: Addr) -> u64 {
        a.at(self.at.data + RINGS, RING_SLOTS, 0x200, self.hostile)
    }

    /// The legacy ring base: 4K aligned inside the ring area.
    fn legacy_ring(&self, a: Addr) -> u64 {
        a.at(self.at.data + RINGS, 4, LEGACY_ALIGN, self.hostile)
    }

    fn in_rings(&self, addr: u64, len: u64) -> bool {
        addr >= self.at.data + RINGS && addr.saturating_add(len) <= self.at.data + BUFFERS
    }
}

/// The size a [`VqSpec::num`] names.
fn queue_size(num: u16, legacy: bool, hostile: bool) -> u16 {
    match (hostile && num >= 0x8000, legacy) {
        (true, _) => num & 0x7fff,
        (false, true) => [64, 256][usize::from(num % 2)],
        (false, false) => 1 << (num % 9),
    }
}

fn be64(v: u64) -> [u8; 8] {
    v.to_be_bytes()
}

/// SET_VQ payload.
fn set_vq_payload(index: u16, num: u16, legacy: bool, desc: u64, avail: u64, used: u64) -> Vec<u8> {
    let mut b = Vec::with_capacity(VQ_INFO_LEN);
    b.extend_from_slice(&be64(desc));
    if legacy {
        b.extend_from_slice(&u32::try_from(LEGACY_ALIGN).unwrap_or(0).to_be_bytes());
    } else {
        b.extend_from_slice(&[0; 4]);
    }
    b.extend_from_slice(&index.to_be_bytes());
    b.extend_from_slice(&num.to_be_bytes());
    if !legacy {
        b.extend_from_slice(&be64(avail));
        b.extend_from_slice(&be64(used));
    }
    b
}

/// The stores that offer `chains` in a ring of `size` entries at `desc` and
/// `avail`, in `e`'s byte order: descriptors linked in order, the
/// available ring naming each chain's head, its index the chain count.
fn fill(
    at: &Layout,
    chains: &[Chain],
    size: u16,
    desc: u64,
    avail: u64,
    e: Endian,
    hostile: bool,
) -> Vec<(u64, Vec<u8>)> {
    let mut stores = Vec::new();
    let mut table = Vec::new();
    let mut heads = Vec::new();
    let size = usize::from(size);
    let area = at.data + BUFFERS;
    let room = at.data_end - area;
    for c in chains.iter().take(8) {
        let descs: Vec<&Desc> = std::iter::once(&c.first).chain(c.more.iter().take(3)).collect();
        if table.len() / 16 + descs.len() > size {
            break;
        }
        let first = u16::try_from(table.len() / 16).unwrap_or(0);
        heads.push(first);
        for (k, d) in descs.iter().enumerate() {
            let addr = area + (u64::from(d.buf) % BUFFER_SLOTS) * 0x100;
            let len = if hostile {
                u32::from(d.len)
            } else {
                u32::try_from(u64::from(d.len) % (area + room - addr + 1)).unwrap_or(0)
            };
            let last = k + 1 == descs.len();
            let mut flags = 0;
            if !last {
                flags |= VIRTQ_DESC_F_NEXT;
            }
            if d.write {
                flags |= VIRTQ_DESC_F_WRITE;
            }
            let next = if last {
                0
            } else {
                first + u16::try_from(k + 1).unwrap_or(0)
            };
            table.extend_from_slice(&e.bytes64(addr));
            table.extend_from_slice(&e.bytes32(len));
            table.extend_from_slice(&e.bytes16(flags));
            table.extend_from_slice(&e.bytes16(next));
            if k == 0 {
                let head = match &c.head {
                    Head::Blk { kind, sector } => {
                        let types = [
                            VIRTIO_BLK_T_IN,
                            VIRTIO_BLK_T_OUT,
                            VIRTIO_BLK_T_FLUSH,
                            VIRTIO_BLK_T_GET_ID,
                        ];
                        let t = if hostile {
                            u32::from(*kind)
                        } else {
                            types[usize::from(*kind) % types.len()]
                        };
                        let mut h = Vec::with_capacity(16);
                        h.extend_from_slice(&e.bytes32(t));
                        h.extend_from_slice(&[0; 4]);
                        h.extend_from_slice(&e.bytes64(u64::from(*sector)));
                        h
                    }
                    Head::Bytes(b) => b[..b.len().min(32)].to_vec(),
                };
                if !head.is_empty() {
                    stores.push((addr, head));
                }
            }
        }
    }
    if table.is_empty() {
        return stores;
    }
    stores.push((desc, table));
    let mut ring = Vec::with_capacity(4 + 2 * heads.len());
    ring.extend_from_slice(&e.bytes16(0));
    ring.extend_from_slice(&e.bytes16(u16::try_from(heads.len()).unwrap_or(0)));
    for h in heads {
        ring.extend_from_slice(&e.bytes16(h));
    }
    stores.push((avail, ring));
    stores
}

impl Setup {
    fn commands(&self, at: &Layout, out: &mut Vec<Encoded>) {
        let rev = self.revision % 3;
        let legacy = rev == 0;
        let p = Place { at, hostile: false };
        let mut push = |cmd: u8, payload: Vec<u8>, stores: Vec<(u64, Vec<u8>)>| {
            out.push(Encoded {
                cmd,
                payload,
                stores,
                variant: Variant::Plain,
            });
        };
        push(CCW_CMD_SET_VIRTIO_REV, vec![0, rev, 0, 0], Vec::new());
        push(CCW_CMD_WRITE_STATUS, vec![ACKNOWLEDGE_DRIVER], Vec::new());
        push(CCW_CMD_READ_FEAT, vec![0; FEAT_LEN], Vec::new());
        // Most set-ups ask for no feature bit of page 0: one the device
        // does not offer makes FEATURES_OK fail, and the chain with it.
        let page0 = if self.features % 4 == 0 {
            self.features & SETUP_FEATURES
        } else {
            0
        };
        let page0 = page0.to_le_bytes();
        push(
            CCW_CMD_WRITE_FEAT,
            vec![page0[0], page0[1], page0[2], page0[3], 0],
            Vec::new(),
        );
        if !legacy {
            push(CCW_CMD_READ_FEAT, vec![0, 0, 0, 0, 1], Vec::new());
            push(CCW_CMD_WRITE_FEAT, vec![1, 0, 0, 0, 1], Vec::new());
            push(CCW_CMD_WRITE_STATUS, vec![ACKNOWLEDGE_DRIVER | FEATURES_OK], Vec::new());
        }
        let e = if legacy { Endian::Big } else { Endian::Little };
        for (k, q) in self.queues.iter().take(MAX_SETUP_QUEUES).enumerate() {
            let index = u16::try_from(k).unwrap_or(0);
            push(CCW_CMD_READ_VQ_CONF, [index.to_be_bytes(), [0, 0]].concat(), Vec::new());
            let num = queue_size(u16::from(q.num), legacy, false);
            let k = u64::try_from(k).unwrap_or(0);
            let (desc, avail, used) = if legacy {
                let base = at.data + RINGS + k * SETUP_LEGACY_STRIDE;
                let (a, u) = legacy_offsets(num);
                (base, base + a, base + u)
            } else {
                let base = at.data + RINGS + k * SETUP_STRIDE;
                let avail = base + 16 * u64::from(num);
                (base, avail, (avail + 6 + 2 * u64::from(num)).next_multiple_of(4))
            };
            let stores = if p.in_rings(desc, used - desc) {
                fill(at, &q.fill, num, desc, avail, e, false)
            } else {
                Vec::new()
            };
            push(
                CCW_CMD_SET_VQ,
                set_vq_payload(index, num, legacy, desc, avail, used),
                stores,
            );
        }
        match self.adapter {
            Some((s, i, bit, isc)) if !legacy => {
                let mut b = Vec::with_capacity(THININT_LEN);
                b.extend_from_slice(&be64(p.indicator(Addr::Slot(s))));
                b.extend_from_slice(&be64(p.indicator(Addr::Slot(i))));
                b.extend_from_slice(&be64(u64::from(bit)));
                b.push(isc % 8);
                push(CCW_CMD_SET_IND_ADAPTER, b, Vec::new());
            }
            _ => push(
                CCW_CMD_SET_IND,
                be64(p.indicator(Addr::Slot(self.indicator))).to_vec(),
                Vec::new(),
            ),
        }
        push(
            CCW_CMD_SET_CONF_IND,
            be64(p.indicator(Addr::Slot(self.config_indicator))).to_vec(),
            Vec::new(),
        );
        let ok = if legacy {
            ACKNOWLEDGE_DRIVER | DRIVER_OK
        } else {
            ACKNOWLEDGE_DRIVER | FEATURES_OK | DRIVER_OK
        };
        push(CCW_CMD_WRITE_STATUS, vec![ok], Vec::new());
    }
}

impl Command {
    /// The command laid out (a plain CCW).
    fn encode(&self, at: &Layout, hostile: bool) -> Encoded {
        let p = Place { at, hostile };
        let none = Vec::new;
        let (cmd, payload, stores) = match self {
            Self::SetRev(rev, len) => {
                let (rev, len) = if hostile { (*rev, *len) } else { (rev % 3, 0) };
                let mut b = rev.to_be_bytes().to_vec();
                b.extend_from_slice(&len.to_be_bytes());
                if hostile {
                    b.resize(b.len() + usize::from(len.min(60)), 0);
                }
                (CCW_CMD_SET_VIRTIO_REV, b, none())
            }
            Self::ReadFeat(i) => {
                let i = if hostile { *i } else { i % 2 };
                (CCW_CMD_READ_FEAT, vec![0, 0, 0, 0, i], none())
            }
            Self::WriteFeat(f, i) => {
                let i = if hostile { *i } else { i % 2 };
                let mut b = f.to_le_bytes().to_vec();
                b.push(i);
                (CCW_CMD_WRITE_FEAT, b, none())
            }
            Self::ReadConf(n) => (CCW_CMD_READ_CONF, vec![0; usize::from(*n).max(1)], none()),
            Self::WriteConf(b) => (CCW_CMD_WRITE_CONF, b[..b.len().min(64)].to_vec(), none()),
            Self::WriteStatus(s) => (CCW_CMD_WRITE_STATUS, vec![*s], none()),
            Self::ReadStatus => (CCW_CMD_READ_STATUS, vec![0], none()),
            Self::SetVq(v) => {
                let index = if hostile { v.index } else { v.index % 4 };
                let num = queue_size(v.num, v.legacy, hostile);
                let (desc, avail, used) = if v.legacy {
                    let base = p.legacy_ring(v.desc);
                    let (a, u) = legacy_offsets(num);
                    (base, base.wrapping_add(a), base.wrapping_add(u))
                } else {
                    (p.ring(v.desc), p.ring(v.avail), p.ring(v.used))
                };
                let n = u64::from(num);
                let stores = if p.in_rings(desc, 16 * n) && p.in_rings(avail, 6 + 2 * n) {
                    let e = if v.legacy { Endian::Big } else { Endian::Little };
                    fill(at, &v.fill, num, desc, avail, e, hostile)
                } else {
                    Vec::new()
                };
                (
                    CCW_CMD_SET_VQ,
                    set_vq_payload(index, num, v.legacy, desc, avail, used),
                    stores,
                )
            }
            Self::ReadVqConf(i) => {
                let i = if hostile { *i } else { i % 4 };
                (CCW_CMD_READ_VQ_CONF, [i.to_be_bytes(), [0, 0]].concat(), none())
            }
            Self::SetInd(a) => (CCW_CMD_SET_IND, be64(p.indicator(*a)).to_vec(), none()),
            Self::SetConfInd(a) => (CCW_CMD_SET_CONF_IND, be64(p.indicator(*a)).to_vec(), none()),
            Self::SetIndAdapter(s, i, bit, isc) => {
                let mut b = Vec::with_capacity(THININT_LEN);
                b.extend_from_slice(&be64(p.indicator(*s)));
                b.extend_from_slice(&be64(p.indicator(*i)));
                b.extend_from_slice(&be64(u64::from(*bit)));
                b.push(if hostile { *isc } else { isc % 8 });
                (CCW_CMD_SET_IND_ADAPTER, b, none())
            }
            Self::Reset => (CCW_CMD_VDEV_RESET, Vec::new(), none()),
            Self::Nop => (CCW_CMD_NOOP, Vec::new(), none()),
            Self::SenseId => (CCW_CMD_SENSE_ID, vec![0; SENSE_ID_LEN], none()),
            Self::Sense => (CCW_CMD_BASIC_SENSE, vec![0; SENSE_LEN], none()),
            Self::Raw(cmd, b) => (*cmd, b[..b.len().min(64)].to_vec(), none()),
        };
        Encoded {
            cmd,
            payload,
            stores,
            variant: Variant::Plain,
        }
    }
}

/// Whether a command code is TRANSFER IN CHANNEL in `format0` or format 1.
const fn is_tic(cmd: u8, format0: bool) -> bool {
    if format0 {
        cmd & 0x0f == 0x08
    } else {
        cmd == 0x08
    }
}

impl Start for VirtioStart {
    /// The ORB at `at.orb` (key 0, all paths, format 1 unless
    /// [`VirtioStart::format0`]), the CCWs from `at.program` (each its own
    /// store), each command's payload in its own 256-byte area from
    /// [`PAYLOADS`], and the ring contents of its SET_VQs.
    fn lay_out(&self, at: &Layout) -> LaidOut {
        let mut program = self.program(at);
        program.truncate(MAX_CCWS);
        let mut out = LaidOut {
            orb: Orb::default(),
            ccw_addrs: Vec::new(),
            data_areas: Vec::new(),
            stores: Vec::new(),
            keys: Vec::new(),
        };
        // (cmd, flags, count, cda) per CCW.
        let mut ccws: Vec<(u8, CcwFlags, u16, u64)> = Vec::new();
        let n = program.len();
        for (k, e) in program.into_iter().enumerate() {
            let Encoded {
                cmd,
                payload,
                stores,
                variant,
            } = e;
            let area = at.data + PAYLOADS + PAYLOAD_ROOM * u64::try_from(k).unwrap_or(0);
            let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
            let mut flags = CcwFlags::new().with_cc(k + 1 < n);
            let mut cda = area;
            let mut count = len;
            match variant {
                Variant::Plain | Variant::Split(_) => {}
                Variant::Sli => flags.set_sli(true),
                Variant::End => flags.set_cc(false),
                Variant::Misaligned(d) => cda += 1 + u64::from(d % 7),
                Variant::Pci => flags.set_pci(true),
                Variant::Count(d) => count = len.wrapping_add_signed(i16::from(d)),
                Variant::Beyond(d) => cda = STORAGE + u64::from(d),
                Variant::Skip => flags.set_skip(true),
            }
            out.stores.extend(stores);
            // A read command's area needs no zeros stored (READ_FEAT and
            // READ_VQ_CONF name their index in it: those are stored).
            let read_only = matches!(
                cmd,
                CCW_CMD_SENSE_ID | CCW_CMD_BASIC_SENSE | CCW_CMD_READ_CONF | CCW_CMD_READ_STATUS
            );
            if !payload.is_empty() && cda < STORAGE && !(read_only && payload.iter().all(|&b| b == 0)) {
                out.stores.push((cda, payload));
            }
            if cda < STORAGE && count > 0 {
                out.data_areas.push(cda..(cda + u64::from(count)).min(STORAGE));
            }
            match variant {
                Variant::Split(s) if len >= 2 && ccws.len() + 2 <= MAX_CCWS + 1 => {
                    let first = 1 + u16::from(s) % (len - 1);
                    ccws.push((cmd, flags.with_cd(true).with_cc(false), first, cda));
                    ccws.push((cmd, flags, len - first, cda + u64::from(first)));
                }
                _ => ccws.push((cmd, flags, count, cda)),
            }
        }
        if ccws.is_empty() {
            ccws.push((CCW_CMD_NOOP, CcwFlags::new(), 0, at.data + PAYLOADS));
        }
        for (k, (cmd, flags, count, cda)) in ccws.into_iter().enumerate() {
            let addr = at.program + 8 * u64::try_from(k).unwrap_or(0);
            let cda = u32::try_from(cda).unwrap_or(u32::MAX);
            let bytes = if self.format0 {
                Ccw0::new()
                    .with_cmd(cmd)
                    .with_cda(cda & 0x00ff_ffff)
                    .with_flags(flags)
                    .with_count(count)
                    .to_be_bytes()
            } else {
                Ccw1::new()
                    .with_cmd(cmd)
                    .with_flags(flags)
                    .with_count(count)
                    .with_cda(cda & 0x7fff_ffff)
                    .to_be_bytes()
            };
            out.ccw_addrs.push(addr);
            out.stores.push((addr, bytes.to_vec()));
        }
        let ctrl = OrbControls::new().with_format1(!self.format0).with_lpm(0xff);
        out.orb = Orb {
            intparm: self.intparm,
            ctrl,
            cpa: u32::try_from(at.program).unwrap_or(0),
            ..Orb::default()
        };
        let (b, len) = out.orb.encode();
        out.stores.push((at.orb, b[..len].to_vec()));
        out
    }

    /// Well formed unless a raw command is a TIC (the program then goes on
    /// in a payload) — hostile payloads keep the channel program's
    /// structure.
    fn well_formed(&self) -> bool {
        !self
            .commands
            .iter()
            .any(|c| matches!(c.command, Command::Raw(cmd, _) if is_tic(cmd, self.format0)))
    }

    fn note(&self) -> Option<String> {
        let mut s = Vec::new();
        if self.setup.is_some() {
            s.push("driver set-up");
        }
        if self.hostile {
            s.push("hostile payloads");
        }
        (!s.is_empty()).then(|| format!("virtio-ccw start: {}", s.join(", ")))
    }
}
