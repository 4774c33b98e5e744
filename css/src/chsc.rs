//! CHANNEL SUBSYSTEM CALL: request-block validation and the commands a
//! virtual channel subsystem answers.
//!
//! Principles of Operation, chapter 14 ("I/O Instructions", CHANNEL
//! SUBSYSTEM CALL). The commands themselves are not described in the PoO;
//! their formats here follow what Linux (drivers/s390/cio/chsc.c) sends and
//! reads, cross-checked with QEMU and Hercules. Where a layout is inferred
//! rather than documented, the item says so.
//!
//! The operand of CHSC is a 4K-aligned 4K area (the channel subsystem checks
//! the alignment: specification exception). It starts with the
//! command-request block:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | L1: request length, 16 ≤ L1 ≤ 4088 and a multiple of 8, else operand exception |
//! | 2 | 2 | command code |
//! | 4 | L1-4 | command-dependent request fields |
//!
//! and the command-response block follows immediately, at offset L1:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | L2: response length (at least 8) |
//! | 2 | 2 | response code ([`response`]) |
//! | 4 | 4 | command-dependent (the descriptor format for SCPD, the notification type for SEI) |
//! | 8 | L2-8 | command-dependent response data |
//!
//! Every command here completes synchronously (condition code 0). The
//! caller fetches the whole area once, calls [`execute`], and stores the
//! [`ChscResponse::bytes`] at the area address plus [`ChscResponse::offset`].
//!
//! Commands answered:
//!
//! | code | command |
//! |---|---|
//! | 0x0002 | SCPD — store channel-path description (formats 0 and 1) |
//! | 0x0004 | SSD — store subchannel description |
//! | 0x000e | SEI — store event information |
//! | 0x0010 | SCSC — store channel-subsystem characteristics |
//! | 0x0031 | SDA — set domain attributes (enable MCSS-E, enable MSS) |
//! | 0x0034 | SDCAL — store domain configuration attributes list (CSS-image list) |
//!
//! Every other code gets response code 0x0004 (command not provided).
//! Linux issues SSD for each subchannel and SDCAL once at boot; QEMU
//! answers both "not provided".

use zcss_ccw::pmcw::Pmcw;

/// Size of the CHSC operand area.
pub const CHSC_AREA_LEN: usize = 4096;
/// Smallest valid request length.
pub const MIN_REQUEST_LEN: usize = 16;
/// Largest valid request length.
pub const MAX_REQUEST_LEN: usize = 4088;
/// Length of the response header (L2, code, command-dependent word).
pub const RESPONSE_HEADER_LEN: usize = 8;

/// Command codes.
pub mod command {
    /// Store channel-path description.
    pub const SCPD: u16 = 0x0002;
    /// Store subchannel description.
    pub const SSD: u16 = 0x0004;
    /// Store event information.
    pub const SEI: u16 = 0x000e;
    /// Store channel-subsystem characteristics.
    pub const SCSC: u16 = 0x0010;
    /// Set domain attributes.
    pub const SDA: u16 = 0x0031;
    /// Store domain configuration attributes list.
    pub const SDCAL: u16 = 0x0034;
}

/// Response codes.
pub mod response {
    /// Successful completion.
    pub const OK: u16 = 0x0001;
    /// Invalid command.
    pub const INVALID_COMMAND: u16 = 0x0002;
    /// Error in the request block: wrong length, reserved field not zero,
    /// a range with first above last, an undefined operation code.
    pub const REQUEST_ERROR: u16 = 0x0003;
    /// The command is not provided by this model.
    pub const NOT_PROVIDED: u16 = 0x0004;
    /// SEI: no event information is pending.
    pub const NO_EVENT: u16 = 0x0005;
    /// The request format is not supported.
    pub const INVALID_FORMAT: u16 = 0x0007;
    /// The CSSID is not valid (not installed, or given without M).
    pub const INVALID_CSSID: u16 = 0x0008;
    /// SDA: the facility cannot be enabled.
    pub const FACILITY_NOT_ENABLED: u16 = 0x0101;
}

/// SDA operation codes.
pub mod sda_op {
    /// Enable the multiple-channel-subsystems facility (MCSS-E).
    pub const ENABLE_MCSS_E: u16 = 0x0000;
    /// Enable multiple subchannel sets (MSS).
    pub const ENABLE_MSS: u16 = 0x0002;
}

/// SEI notification-type-selection-mask bits (request bytes 8-15).
pub mod ntsm {
    /// Notification type 0 (channel-subsystem events); cannot be masked.
    pub const NT0: u64 = 1 << 63;
    /// Notification type 2 (PCI function events).
    pub const NT2: u64 = 1 << 61;
}

/// What the channel subsystem reports about one channel path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChannelPathDescription {
    /// Channel-path type (e.g. 0x32 for the virtual path QEMU uses for
    /// virtio, 0x1a/0x1b FICON).
    pub chpid_type: u8,
}

/// What the channel subsystem reports about one subchannel (SSD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubchannelDescription {
    /// Subchannel type (PMCW ST): 0 = I/O subchannel.
    pub subchannel_type: u8,
    /// The device number is valid (PMCW DNV).
    pub dnv: bool,
    /// Device number.
    pub devno: u16,
    /// Unit address of the device on its control unit.
    pub unit_addr: u8,
    /// Installed paths (PMCW PIM).
    pub pim: u8,
    /// CHPIDs of the installed paths (PMCW CHPID 0-7).
    pub chpids: [u8; 8],
    /// Paths whose full link address is valid (0 for unswitched paths).
    pub fla_valid_mask: u8,
    /// Full link addresses of the paths.
    pub fla: [u16; 8],
}

/// One event for CHSC STORE EVENT INFORMATION.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SeiEvent {
    /// Notification type 0: a channel-subsystem event.
    Nt0 {
        /// Events were lost before this one (flag 0x40).
        overflow: bool,
        /// Validity flags (0x80 link address valid, 0xc0 full link address valid).
        validity: u8,
        /// Reporting source (e.g. 4 = channel path).
        reporting_source: u8,
        /// Content code (e.g. 2 resource accessibility, 7 channel-path availability).
        content_code: u8,
        /// Full link address.
        fla: u16,
        /// Reporting-source ID (e.g. the CHPID).
        rsid: u16,
        /// Content-code-dependent field (truncated to the room left in the area).
        ccdf: Vec<u8>,
    },
    /// Notification type 2: a PCI-function event.
    Nt2 {
        /// Content code (1 error, 2 availability).
        content_code: u8,
        /// Content-code-dependent field (truncated to the room left).
        ccdf: Vec<u8>,
    },
}

impl SubchannelDescription {
    /// The description of a subchannel from its PMCW: type, DNV, device
    /// number, PIM and CHPIDs; `unit_addr` is the device's unit address
    /// (for a virtual device any stable value, e.g. the low byte of the
    /// device number). Virtual paths have no full link addresses.
    #[must_use]
    pub fn from_pmcw(pmcw: &Pmcw, unit_addr: u8) -> Self {
        Self {
            subchannel_type: pmcw.chars.subchannel_type(),
            dnv: pmcw.flags.dnv(),
            devno: pmcw.flags.devno(),
            unit_addr,
            pim: pmcw.pim,
            chpids: pmcw.chpid,
            fla_valid_mask: 0,
            fla: [0; 8],
        }
    }
}

/// SEI content codes of notification type 0 that a channel subsystem
/// reports about channel paths (Linux `chsc_process_sei_nt0`).
pub mod content_code {
    /// Link incident.
    pub const LINK_INCIDENT: u8 = 1;
    /// I/O resources (behind a channel path) may have become accessible.
    pub const RESOURCE_ACCESSIBILITY: u8 = 2;
    /// Channel-path availability changed (bitmap of CHPIDs).
    pub const CHANNEL_PATH_AVAILABILITY: u8 = 7;
    /// Channel-path configuration notification (configure/deconfigure request).
    pub const CHANNEL_PATH_CONFIGURATION: u8 = 8;
}

/// Reporting-source values of notification-type-0 events.
pub mod reporting_source {
    /// The channel subsystem itself.
    pub const CSS: u8 = 0;
    /// A channel path (RSID = CHPID).
    pub const CHANNEL_PATH: u8 = 4;
}

/// Operation of a channel-path configuration notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChpConfigOp {
    /// The paths are to be configured (brought online).
    Configure = 0,
    /// The paths are to be deconfigured.
    Deconfigure = 1,
    /// A pending deconfigure request is cancelled.
    CancelDeconfigure = 2,
}

/// A 256-bit CHPID map, bit `0x80 >> (chpid % 8)` of byte `chpid / 8`.
fn chpid_map(chpids: &[u8]) -> [u8; 32] {
    let mut map = [0u8; 32];
    for &c in chpids {
        map[usize::from(c / 8)] |= 0x80 >> (c % 8);
    }
    map
}

impl SeiEvent {
    /// I/O resources behind channel path `chpid` may have become
    /// accessible (e.g. a path was hot-plugged): the program re-probes the
    /// subchannels using it.
    #[must_use]
    pub fn resource_accessibility(chpid: u8) -> Self {
        Self::Nt0 {
            overflow: false,
            validity: 0,
            reporting_source: reporting_source::CHANNEL_PATH,
            content_code: content_code::RESOURCE_ACCESSIBILITY,
            fla: 0,
            rsid: u16::from(chpid),
            ccdf: Vec::new(),
        }
    }

    /// The availability of `chpids` changed: the program refreshes their
    /// descriptions (SCPD) and creates paths it did not know.
    #[must_use]
    pub fn channel_path_availability(chpids: &[u8]) -> Self {
        Self::Nt0 {
            overflow: false,
            validity: 0,
            reporting_source: reporting_source::CSS,
            content_code: content_code::CHANNEL_PATH_AVAILABILITY,
            fla: 0,
            rsid: 0,
            ccdf: chpid_map(chpids).to_vec(),
        }
    }

    /// A configuration request for `chpids`: 32-byte CHPID map, then the
    /// operation and a zero byte.
    #[must_use]
    pub fn channel_path_configuration(chpids: &[u8], op: ChpConfigOp) -> Self {
        let mut ccdf = chpid_map(chpids).to_vec();
        ccdf.push(op as u8);
        ccdf.push(0);
        Self::Nt0 {
            overflow: false,
            validity: 0,
            reporting_source: reporting_source::CSS,
            content_code: content_code::CHANNEL_PATH_CONFIGURATION,
            fla: 0,
            rsid: 0,
            ccdf,
        }
    }
}

/// The channel-subsystem characteristics SCSC stores: the first 256 bits of
/// the general-characteristics and CHSC-characteristics fields (the rest is
/// zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Characteristics {
    /// General characteristics, bit 0 = most significant bit of word 0.
    pub general: [u32; 8],
    /// CHSC characteristics (which commands are provided).
    pub chsc: [u32; 8],
}

/// Bit numbers of the characteristics zcss reports. The PoO does not
/// publish this layout; the names come from Linux's `css_general_char` /
/// `css_chsc_char` and from Hercules. Bits that neither names are set
/// because QEMU reports them (`ioinst_handle_chsc_scsc`), so a guest sees
/// the same characteristics under zcss as under QEMU.
pub mod chars {
    /// General 6: cancel-I/O facility (CANCEL SUBCHANNEL).
    pub const CANCEL_IO: usize = 6;
    /// General 7: concurrent-sense facility.
    pub const CONCURRENT_SENSE: usize = 7;
    /// General 41: adapter-interruption facility (Linux `aif`). QEMU does
    /// not report it, and neither does [`super::Characteristics::ZCSS`].
    pub const ADAPTER_INTERRUPTION: usize = 41;
    /// General 45: multiple-channel-subsystems facility (MCSS-E, Linux `mcss`).
    pub const MCSS: usize = 45;
    /// General 46: format-1 channel-path descriptions (SCPD with C, Linux `fcs`).
    pub const FCS: usize = 46;
    /// General 47: unnamed; set as QEMU reports it.
    pub const GENERAL_47: usize = 47;
    /// General 48: extended measurement blocks (format-1 blocks, Linux `ext_mb`).
    pub const EXTENDED_MB: usize = 48;
    /// General 51: unnamed; set as QEMU reports it.
    pub const GENERAL_51: usize = 51;
    /// General 108: alternate subchannel-set identifier (Linux `alt_ssi`).
    pub const ALT_SSI: usize = 108;
    /// CHSC 1: SCPD (0x0002) provided.
    pub const CMD_SCPD: usize = 1;
    /// CHSC 3: SSD (0x0004) provided (QEMU does not provide SSD).
    pub const CMD_SSD: usize = 3;
    /// CHSC 109: unnamed; set as QEMU reports it.
    pub const CHSC_109: usize = 109;
}

impl Characteristics {
    /// No characteristic at all.
    pub const NONE: Self = Self {
        general: [0; 8],
        chsc: [0; 8],
    };

    /// What the zcss channel subsystem reports: QEMU's general
    /// characteristics exactly (words 0, 1, 3 = `0x03000000`, `0x00079000`,
    /// `0x00080000`: bits 6, 7, 45, 46, 47, 48, 51, 108) and QEMU's CHSC
    /// characteristics (bits 1 and 109: words 0, 3 = `0x40000000`,
    /// `0x00040000`) plus bit 3, since zcss provides SSD (word 0 =
    /// `0x50000000`).
    pub const ZCSS: Self = Self::NONE
        .with_general(chars::CANCEL_IO)
        .with_general(chars::CONCURRENT_SENSE)
        .with_general(chars::MCSS)
        .with_general(chars::FCS)
        .with_general(chars::GENERAL_47)
        .with_general(chars::EXTENDED_MB)
        .with_general(chars::GENERAL_51)
        .with_general(chars::ALT_SSI)
        .with_chsc(chars::CMD_SCPD)
        .with_chsc(chars::CMD_SSD)
        .with_chsc(chars::CHSC_109);

    /// Sets general-characteristics bit `bit` (0..256; others are ignored).
    #[must_use]
    pub const fn with_general(mut self, bit: usize) -> Self {
        if bit < 256 {
            self.general[bit / 32] |= 0x8000_0000 >> (bit % 32);
        }
        self
    }

    /// Sets CHSC-characteristics bit `bit` (0..256; others are ignored).
    #[must_use]
    pub const fn with_chsc(mut self, bit: usize) -> Self {
        if bit < 256 {
            self.chsc[bit / 32] |= 0x8000_0000 >> (bit % 32);
        }
        self
    }

    /// Whether general-characteristics bit `bit` is set.
    #[must_use]
    pub const fn general_bit(&self, bit: usize) -> bool {
        bit < 256 && self.general[bit / 32] & (0x8000_0000 >> (bit % 32)) != 0
    }
}

impl Default for Characteristics {
    fn default() -> Self {
        Self::ZCSS
    }
}

/// What CHSC needs from the channel subsystem.
pub trait ChscContext {
    /// The CSSID of the default channel-subsystem image (the one a program
    /// without MCSS-E sees; QEMU's 0xfe).
    fn default_cssid(&self) -> u8;

    /// Whether css image `cssid` is installed.
    fn css_present(&self, cssid: u8) -> bool;

    /// Whether MCSS-E is enabled.
    fn mcss_enabled(&self) -> bool;

    /// The channel path `chpid` of css image `cssid`, if installed.
    fn channel_path(&self, cssid: u8, chpid: u8) -> Option<ChannelPathDescription>;

    /// Subchannel `schno` of set `ssid` of css image `cssid`, if it exists
    /// and is visible to the program (an ssid beyond the enabled subchannel
    /// sets is not).
    fn subchannel(&self, cssid: u8, ssid: u8, schno: u16) -> Option<SubchannelDescription>;

    /// SDA: enable MCSS-E. `false` if it cannot be enabled.
    fn enable_mcss(&mut self) -> bool;

    /// SDA: enable multiple subchannel sets. `false` if it cannot be enabled.
    fn enable_mss(&mut self) -> bool;

    /// SEI: removes and returns the next pending event whose notification
    /// type is selected by `ntsm` (type 0 is always selected). When it
    /// returns `None`, or the last event, the implementation may allow a new
    /// channel-subsystem CRW to be made pending.
    fn sei_next(&mut self, ntsm: u64) -> Option<SeiEvent>;

    /// SEI: whether another event selected by `ntsm` is pending.
    fn sei_more(&self, ntsm: u64) -> bool;

    /// The characteristics SCSC stores.
    fn characteristics(&self) -> Characteristics {
        Characteristics::ZCSS
    }

    /// The image ID (MIF image ID) of the program's partition in css image
    /// `cssid`, for SDCAL.
    fn image_id(&self, _cssid: u8) -> u8 {
        1
    }
}

/// The result of CHSC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChscOutcome {
    /// The request length is invalid: operand exception, nothing is stored.
    OperandException,
    /// Condition code 0: the response block is in the area.
    Complete(ChscResponse),
}

/// Where the response block is and what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ChscResponse {
    /// The command code of the request.
    pub command: u16,
    /// The response code stored.
    pub code: u16,
    /// Offset of the response block in the area (= the request length).
    pub offset: usize,
    /// Length of the response block (L2), at least 8.
    pub len: usize,
}

impl ChscResponse {
    /// The response block within `area`, to be stored at area address +
    /// [`ChscResponse::offset`].
    #[must_use]
    pub fn bytes<'a>(&self, area: &'a [u8; CHSC_AREA_LEN]) -> &'a [u8] {
        &area[self.offset..self.offset + self.len]
    }
}

fn get_u16(a: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([a[off], a[off + 1]])
}

fn get_u32(a: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([a[off], a[off + 1], a[off + 2], a[off + 3]])
}

fn get_u64(a: &[u8], off: usize) -> u64 {
    (u64::from(get_u32(a, off)) << 32) | u64::from(get_u32(a, off + 4))
}

fn put_u16(a: &mut [u8], off: usize, v: u16) {
    a[off..off + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_u32(a: &mut [u8], off: usize, v: u32) {
    a[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// A command handler's result: response code, the command-dependent header
/// word, and the number of data bytes written after the header.
struct Reply {
    code: u16,
    param: u32,
    data_len: usize,
}

impl Reply {
    const fn error(code: u16) -> Self {
        Self {
            code,
            param: 0,
            data_len: 0,
        }
    }

    const fn ok(param: u32, data_len: usize) -> Self {
        Self {
            code: response::OK,
            param,
            data_len,
        }
    }
}

/// Executes the CHSC command in `area` (the whole 4K operand, fetched once)
/// and builds the response block in place after the request.
///
/// Never panics, whatever the area holds; the work is bounded by the area
/// size (at most a few hundred context calls).
pub fn execute(area: &mut [u8; CHSC_AREA_LEN], ctx: &mut dyn ChscContext) -> ChscOutcome {
    let len = usize::from(get_u16(area, 0));
    if !(MIN_REQUEST_LEN..=MAX_REQUEST_LEN).contains(&len) || len % 8 != 0 {
        return ChscOutcome::OperandException;
    }
    let cmd = get_u16(area, 2);
    let (req, resp) = area.split_at_mut(len);
    resp.fill(0);
    let data = &mut resp[RESPONSE_HEADER_LEN..];
    let reply = match cmd {
        command::SCPD => scpd(req, data, ctx),
        command::SSD => ssd(req, data, ctx),
        command::SEI => sei(req, data, ctx),
        command::SCSC => scsc(req, data, ctx),
        command::SDA => sda(req, ctx),
        command::SDCAL => sdcal(req, data, ctx),
        _ => Reply::error(response::NOT_PROVIDED),
    };
    // A handler never writes past `data`, whose length is at most 4080.
    let resp_len = RESPONSE_HEADER_LEN + reply.data_len;
    let l2 = u16::try_from(resp_len).unwrap_or(u16::MAX);
    put_u16(resp, 0, l2);
    put_u16(resp, 2, reply.code);
    put_u32(resp, 4, reply.param);
    ChscOutcome::Complete(ChscResponse {
        command: cmd,
        code: reply.code,
        offset: len,
        len: resp_len,
    })
}

/// Resolves the (M, CSSID) pair of a request to a css image: without M the
/// CSSID field must be zero and names the default image; with M it must
/// name an installed image.
fn resolve_css(m: bool, cssid: u8, ctx: &dyn ChscContext) -> Result<u8, u16> {
    if m {
        if ctx.css_present(cssid) {
            Ok(cssid)
        } else {
            Err(response::INVALID_CSSID)
        }
    } else if cssid != 0 {
        Err(response::INVALID_CSSID)
    } else {
        Ok(ctx.default_cssid())
    }
}

/// SCPD request (length 16):
///
/// | word | bits | field |
/// |---|---|---|
/// | 1 | 0-1 | reserved |
/// | 1 | 2 | M: the CSSID field is valid |
/// | 1 | 3 | C: format-1 descriptors (with RFMT 0 or 1) |
/// | 1 | 4-7 | FMT: request format, must be 0 |
/// | 1 | 8-15 | CSSID |
/// | 1 | 16-19 | reserved |
/// | 1 | 20-23 | RFMT: response format (0/1 select by C; higher formats are not provided) |
/// | 1 | 24-31 | first CHPID |
/// | 2 | 0-23 | reserved |
/// | 2 | 24-31 | last CHPID |
/// | 3 | | reserved |
///
/// The response holds one descriptor per installed channel path in the
/// range, in CHPID order: format 0 is 8 bytes (flags 0x80 = valid, LSN, type,
/// CHPID, SWLA, reserved, CHLA, CHPP), format 1 is 32 bytes with the same
/// first word; link addresses and the rest are zero for virtual paths. The
/// command-dependent header word is the descriptor format.
fn scpd(req: &[u8], data: &mut [u8], ctx: &dyn ChscContext) -> Reply {
    let w1 = get_u32(req, 4);
    let w2 = get_u32(req, 8);
    let w3 = get_u32(req, 12);
    let rfmt_field = (w1 >> 8) & 0xf;
    let c = w1 & 0x1000_0000 != 0;
    let desc_fmt = if rfmt_field <= 1 { u32::from(c) } else { rfmt_field };
    let err = |code| Reply {
        param: desc_fmt,
        ..Reply::error(code)
    };
    if req.len() != 16 || w1 & 0xc000_f000 != 0 || w2 & 0xffff_ff00 != 0 || w3 != 0 {
        return err(response::REQUEST_ERROR);
    }
    if w1 & 0x0f00_0000 != 0 || desc_fmt > 1 {
        return err(response::INVALID_FORMAT);
    }
    let m = w1 & 0x2000_0000 != 0;
    let cssid = ((w1 >> 16) & 0xff) as u8;
    let css = match resolve_css(m, cssid, ctx) {
        Ok(css) => css,
        Err(code) => return err(code),
    };
    let first = (w1 & 0xff) as u8;
    let last = (w2 & 0xff) as u8;
    if last < first {
        return err(response::REQUEST_ERROR);
    }
    let size = if desc_fmt == 1 { 32 } else { 8 };
    let mut used = 0;
    for chpid in first..=last {
        let Some(path) = ctx.channel_path(css, chpid) else {
            continue;
        };
        if used + size > data.len() {
            break;
        }
        let d = &mut data[used..used + size];
        d[0] = 0x80;
        d[2] = path.chpid_type;
        d[3] = chpid;
        used += size;
    }
    Reply::ok(desc_fmt, used)
}

/// SSD request (length 16). Linux sets only SSID and the range; the M bit
/// and CSSID positions are inferred from the sibling commands (store
/// subchannel control-unit description, PNSO), which place M in word 1 bit
/// 2 and the CSSID in word 2 bits 8-15:
///
/// | word | bits | field |
/// |---|---|---|
/// | 1 | 0-1, 3-9 | reserved |
/// | 1 | 2 | M: the CSSID field is valid |
/// | 1 | 10-11 | SSID |
/// | 1 | 12-15 | FMT: request format, must be 0 |
/// | 1 | 16-31 | first subchannel number |
/// | 2 | 0-7 | reserved |
/// | 2 | 8-15 | CSSID |
/// | 2 | 16-31 | last subchannel number |
/// | 3 | | reserved |
///
/// The response holds one 32-byte description per subchannel of the range
/// (as many as fit: 127), in order:
///
/// | offset | field |
/// |---|---|
/// | 0 | flags: 0x80 subchannel valid, 0x40 device number valid, bits 2-4 subchannel type |
/// | 1 | unit address |
/// | 2-3 | device number |
/// | 4 | path mask (PIM) |
/// | 5 | full-link-address valid mask |
/// | 6-7 | subchannel number |
/// | 8-15 | CHPIDs 0-7 |
/// | 16-31 | full link addresses 0-7 |
///
/// A subchannel that does not exist has an all-zero description (valid
/// bit off).
fn ssd(req: &[u8], data: &mut [u8], ctx: &dyn ChscContext) -> Reply {
    let w1 = get_u32(req, 4);
    let w2 = get_u32(req, 8);
    let w3 = get_u32(req, 12);
    if req.len() != 16 || w1 & 0xdfc0_0000 != 0 || w2 & 0xff00_0000 != 0 || w3 != 0 {
        return Reply::error(response::REQUEST_ERROR);
    }
    if w1 & 0x000f_0000 != 0 {
        return Reply::error(response::INVALID_FORMAT);
    }
    let m = w1 & 0x2000_0000 != 0;
    let cssid = ((w2 >> 16) & 0xff) as u8;
    let css = match resolve_css(m, cssid, ctx) {
        Ok(css) => css,
        Err(code) => return Reply::error(code),
    };
    let ssid = ((w1 >> 20) & 3) as u8;
    let first = (w1 & 0xffff) as u16;
    let last = (w2 & 0xffff) as u16;
    if last < first {
        return Reply::error(response::REQUEST_ERROR);
    }
    let mut used = 0;
    for schno in first..=last {
        if used + 32 > data.len() {
            break;
        }
        let d = &mut data[used..used + 32];
        if let Some(s) = ctx.subchannel(css, ssid, schno) {
            d[0] = 0x80 | if s.dnv { 0x40 } else { 0 } | ((s.subchannel_type & 7) << 3);
            d[1] = s.unit_addr;
            put_u16(d, 2, s.devno);
            d[4] = s.pim;
            d[5] = s.fla_valid_mask;
            put_u16(d, 6, schno);
            d[8..16].copy_from_slice(&s.chpids);
            for (i, fla) in s.fla.iter().enumerate() {
                put_u16(d, 16 + 2 * i, *fla);
            }
        }
        used += 32;
    }
    Reply::ok(0, used)
}

/// SEI request (length 16): word 1 reserved; bytes 8-15 the
/// notification-type-selection mask ([`ntsm`]).
///
/// Response: response code 0x0005 when no event is pending; otherwise the
/// header word carries the notification type in its low byte and the data
/// is the event area:
/// * type 0: flags (0x80 more events pending, 0x40 events were lost),
///   validity flags, reporting source, content code, full link address
///   (2 bytes), RSID (2 bytes), 8 reserved bytes, then the
///   content-code-dependent field;
/// * type 2: flags, 2 reserved bytes, content code, 52 reserved bytes, then
///   the content-code-dependent field.
fn sei(req: &[u8], data: &mut [u8], ctx: &mut dyn ChscContext) -> Reply {
    if req.len() != 16 || get_u32(req, 4) != 0 {
        return Reply::error(response::REQUEST_ERROR);
    }
    let mask = get_u64(req, 8) | ntsm::NT0;
    let Some(event) = ctx.sei_next(mask) else {
        return Reply::error(response::NO_EVENT);
    };
    let more = if ctx.sei_more(mask) { 0x80 } else { 0 };
    match event {
        SeiEvent::Nt0 {
            overflow,
            validity,
            reporting_source,
            content_code,
            fla,
            rsid,
            ccdf,
        } => {
            data[0] = more | if overflow { 0x40 } else { 0 };
            data[1] = validity;
            data[2] = reporting_source;
            data[3] = content_code;
            put_u16(data, 4, fla);
            put_u16(data, 6, rsid);
            let n = ccdf.len().min(data.len().saturating_sub(16));
            data[16..16 + n].copy_from_slice(&ccdf[..n]);
            Reply::ok(0, 16 + n)
        }
        SeiEvent::Nt2 { content_code, ccdf } => {
            data[0] = more;
            data[3] = content_code;
            let n = ccdf.len().min(data.len().saturating_sub(56));
            data[56..56 + n].copy_from_slice(&ccdf[..n]);
            Reply::ok(2, 56 + n)
        }
    }
}

/// SCSC request (length 16):
///
/// | word | bits | field |
/// |---|---|---|
/// | 1 | 0-1, 3-11, 24-31 | reserved |
/// | 1 | 2 | M: the CSSID field is valid |
/// | 1 | 12-15 | FMT, must be 0 |
/// | 1 | 16-23 | CSSID |
/// | 2-3 | | reserved |
///
/// Response: 4080 bytes: 8-byte header, 510 words of general
/// characteristics, 508 words of CHSC characteristics.
fn scsc(req: &[u8], data: &mut [u8], ctx: &dyn ChscContext) -> Reply {
    let w1 = get_u32(req, 4);
    if req.len() != 16 {
        return Reply::error(response::REQUEST_ERROR);
    }
    if w1 & 0x000f_0000 != 0 {
        return Reply::error(response::INVALID_FORMAT);
    }
    if w1 & 0xdff0_00ff != 0 || get_u32(req, 8) != 0 || get_u32(req, 12) != 0 {
        return Reply::error(response::REQUEST_ERROR);
    }
    let m = w1 & 0x2000_0000 != 0;
    let cssid = ((w1 >> 8) & 0xff) as u8;
    if let Err(code) = resolve_css(m, cssid, ctx) {
        return Reply::error(code);
    }
    let ch = ctx.characteristics();
    for (i, w) in ch.general.iter().enumerate() {
        put_u32(data, 4 * i, *w);
    }
    for (i, w) in ch.chsc.iter().enumerate() {
        put_u32(data, 510 * 4 + 4 * i, *w);
    }
    Reply::ok(0, (510 + 508) * 4)
}

/// SDA request (length 0x400): word 1 bits 0-3 and 8-15 reserved, bits
/// 4-7 FMT (must be 0), bits 16-31 the operation code ([`sda_op`]); words
/// 2-3 reserved; the rest is operation-dependent data (unused by both
/// operations). The response is the header only.
fn sda(req: &[u8], ctx: &mut dyn ChscContext) -> Reply {
    let w1 = get_u32(req, 4);
    if req.len() != 0x400 || w1 & 0xf0ff_0000 != 0 || get_u32(req, 8) != 0 || get_u32(req, 12) != 0 {
        return Reply::error(response::REQUEST_ERROR);
    }
    if w1 & 0x0f00_0000 != 0 {
        return Reply::error(response::INVALID_FORMAT);
    }
    let enabled = match (w1 & 0xffff) as u16 {
        sda_op::ENABLE_MCSS_E => ctx.enable_mcss(),
        sda_op::ENABLE_MSS => ctx.enable_mss(),
        _ => return Reply::error(response::REQUEST_ERROR),
    };
    if enabled {
        Reply::ok(0, 0)
    } else {
        Reply::error(response::FACILITY_NOT_ENABLED)
    }
}

/// SDCAL request (length 32): byte 4 the attribute type (only type 4, the
/// list of css images with the program's image ID in each, is provided),
/// bytes 5-31 reserved.
///
/// Response: header, 8 reserved bytes, then one 4-byte entry per css image
/// the program can see (CSSID, image ID, 2 reserved bytes): the default
/// image only while MCSS-E is off, every installed image in CSSID order
/// once it is on. Linux reads entry 0 as the identity of its css 0.
fn sdcal(req: &[u8], data: &mut [u8], ctx: &dyn ChscContext) -> Reply {
    if req.len() != 32 || req[5..32].iter().any(|&b| b != 0) {
        return Reply::error(response::REQUEST_ERROR);
    }
    if req[4] != 4 {
        return Reply::error(response::REQUEST_ERROR);
    }
    let mut used = 8;
    let mut entry = |used: &mut usize, cssid: u8| {
        if *used + 4 <= data.len() {
            data[*used] = cssid;
            data[*used + 1] = ctx.image_id(cssid);
            *used += 4;
        }
    };
    if ctx.mcss_enabled() {
        for cssid in 0..=u8::MAX {
            if ctx.css_present(cssid) {
                entry(&mut used, cssid);
            }
        }
    } else {
        entry(&mut used, ctx.default_cssid());
    }
    Reply::ok(0, used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// A css with images 0xfe (default) and 0x01; paths 0x00 (virtio,
    /// type 0x32) and 0x42 (FICON) in 0xfe, path 0x10 in 0x01; subchannels
    /// 0.0.0000, 0.0.0002 and 0.1.0005 in 0xfe.
    struct Fake {
        mcss: bool,
        mss: bool,
        refuse: bool,
        events: VecDeque<SeiEvent>,
        chars: Characteristics,
    }

    impl Fake {
        fn new() -> Self {
            Self {
                mcss: false,
                mss: false,
                refuse: false,
                events: VecDeque::new(),
                chars: Characteristics::ZCSS,
            }
        }
    }

    fn virtio_sch(devno: u16) -> SubchannelDescription {
        SubchannelDescription {
            subchannel_type: 0,
            dnv: true,
            devno,
            unit_addr: (devno & 0xff) as u8,
            pim: 0x80,
            chpids: [0, 0, 0, 0, 0, 0, 0, 0],
            fla_valid_mask: 0,
            fla: [0; 8],
        }
    }

    impl ChscContext for Fake {
        fn default_cssid(&self) -> u8 {
            0xfe
        }
        fn css_present(&self, cssid: u8) -> bool {
            cssid == 0xfe || cssid == 0x01
        }
        fn mcss_enabled(&self) -> bool {
            self.mcss
        }
        fn channel_path(&self, cssid: u8, chpid: u8) -> Option<ChannelPathDescription> {
            match (cssid, chpid) {
                (0xfe, 0x00) => Some(ChannelPathDescription { chpid_type: 0x32 }),
                (0xfe, 0x42) => Some(ChannelPathDescription { chpid_type: 0x1b }),
                (0x01, 0x10) => Some(ChannelPathDescription { chpid_type: 0x1a }),
                _ => None,
            }
        }
        fn subchannel(&self, cssid: u8, ssid: u8, schno: u16) -> Option<SubchannelDescription> {
            match (cssid, ssid, schno) {
                (0xfe, 0, 0) => Some(virtio_sch(0x0000)),
                (0xfe, 0, 2) => Some(SubchannelDescription {
                    dnv: false,
                    ..virtio_sch(0x1234)
                }),
                (0xfe, 1, 5) if self.mss => Some(virtio_sch(0x0005)),
                _ => None,
            }
        }
        fn enable_mcss(&mut self) -> bool {
            if self.refuse {
                return false;
            }
            self.mcss = true;
            true
        }
        fn enable_mss(&mut self) -> bool {
            if self.refuse {
                return false;
            }
            self.mss = true;
            true
        }
        fn sei_next(&mut self, ntsm: u64) -> Option<SeiEvent> {
            let pos = self
                .events
                .iter()
                .position(|e| matches!(e, SeiEvent::Nt0 { .. }) || ntsm & ntsm::NT2 != 0)?;
            self.events.remove(pos)
        }
        fn sei_more(&self, ntsm: u64) -> bool {
            self.events
                .iter()
                .any(|e| matches!(e, SeiEvent::Nt0 { .. }) || ntsm & ntsm::NT2 != 0)
        }
        fn characteristics(&self) -> Characteristics {
            self.chars
        }
    }

    /// An area holding a request of `len` bytes with `code` and the given
    /// words 1.. (big-endian) after the header.
    fn request(len: u16, code: u16, words: &[u32]) -> Box<[u8; CHSC_AREA_LEN]> {
        let mut a = Box::new([0xa5u8; CHSC_AREA_LEN]);
        a[..usize::from(len).min(CHSC_AREA_LEN)].fill(0);
        put_u16(&mut a[..], 0, len);
        put_u16(&mut a[..], 2, code);
        for (i, w) in words.iter().enumerate() {
            put_u32(&mut a[..], 4 + 4 * i, *w);
        }
        a
    }

    fn run(area: &mut [u8; CHSC_AREA_LEN], ctx: &mut Fake) -> ChscResponse {
        match execute(area, ctx) {
            ChscOutcome::Complete(r) => {
                assert_eq!(usize::from(get_u16(&area[..], r.offset)), r.len, "L2 stored");
                assert_eq!(get_u16(&area[..], r.offset + 2), r.code, "code stored");
                assert!(r.offset + r.len <= CHSC_AREA_LEN);
                r
            }
            ChscOutcome::OperandException => panic!("unexpected operand exception"),
        }
    }

    fn code_of(len: u16, code: u16, words: &[u32], ctx: &mut Fake) -> u16 {
        run(&mut request(len, code, words), ctx).code
    }

    #[test]
    fn execute_bad_request_lengths_are_operand_exception() {
        let mut ctx = Fake::new();
        for len in (0u16..=0xffff).filter(|&l| !(16..=4088).contains(&l) || l % 8 != 0) {
            let mut a = request(0, command::SCSC, &[]);
            put_u16(&mut a[..], 0, len);
            assert_eq!(execute(&mut a, &mut ctx), ChscOutcome::OperandException, "len {len}");
        }
    }

    #[test]
    fn execute_every_valid_length_and_code_stays_in_area() {
        let mut ctx = Fake::new();
        for len in (16u16..=4088).step_by(8) {
            for code in [0u16, 2, 4, 6, 0xe, 0x10, 0x22, 0x31, 0x34, 0xffff] {
                let mut a = request(len, code, &[0xffff_ffff; 3]);
                let r = run(&mut a, &mut ctx);
                assert_eq!(r.offset, usize::from(len));
                assert!(r.len >= RESPONSE_HEADER_LEN);
            }
        }
    }

    #[test]
    fn execute_hostile_random_areas_never_panic() {
        let mut ctx = Fake::new();
        ctx.mss = true;
        let mut seed = 0x1234_5678_9abc_def0u64;
        for _ in 0..20_000 {
            let mut a = Box::new([0u8; CHSC_AREA_LEN]);
            for chunk in a.chunks_mut(8) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                chunk.copy_from_slice(&seed.to_be_bytes()[..chunk.len()]);
            }
            // Bias toward valid lengths and implemented commands.
            let len = 16 + 8 * (seed % 8) as u16;
            put_u16(&mut a[..], 0, if seed & 1 == 0 { len } else { 0x400 });
            let codes = [2u16, 4, 0xe, 0x10, 0x31, 0x34];
            put_u16(&mut a[..], 2, codes[(seed >> 8) as usize % codes.len()]);
            if let ChscOutcome::Complete(r) = execute(&mut a, &mut ctx) {
                assert!(r.offset + r.len <= CHSC_AREA_LEN);
            }
        }
    }

    #[test]
    fn execute_unknown_command_is_not_provided() {
        let mut ctx = Fake::new();
        for code in [
            0x0000u16, 0x0001, 0x0006, 0x0012, 0x0016, 0x0021, 0x0022, 0x0024, 0x0038, 0xffff,
        ] {
            let r = run(&mut request(16, code, &[]), &mut ctx);
            assert_eq!(r.code, response::NOT_PROVIDED, "code {code:#x}");
            assert_eq!(r.len, 8);
            assert_eq!(r.command, code);
        }
    }

    #[test]
    fn execute_response_area_is_cleared_and_header_placed_after_request() {
        let mut ctx = Fake::new();
        let mut a = request(24, 0x0099, &[]);
        a[24..].fill(0xee);
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.offset, 24);
        assert_eq!(r.bytes(&a), &[0, 8, 0, 4, 0, 0, 0, 0]);
        assert!(a[32..].iter().all(|&b| b == 0));
    }

    // ---- SCSC ----

    #[test]
    fn scsc_reports_zcss_characteristics() {
        let mut ctx = Fake::new();
        let mut a = request(16, command::SCSC, &[0, 0, 0]);
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.code, response::OK);
        assert_eq!(r.len, 4080);
        assert_eq!(r.offset + r.len, CHSC_AREA_LEN);
        let gen = |w: usize| get_u32(&a[..], 16 + 8 + 4 * w);
        let chsc = |w: usize| get_u32(&a[..], 16 + 8 + 2040 + 4 * w);
        // QEMU's words, bit for bit (general bits 6, 7, 45-48, 51, 108).
        assert_eq!(gen(0), 0x0300_0000, "bits 6 and 7");
        // Bit 48 (extended measurement block) is what kvm-unit-tests checks.
        assert_eq!(gen(1), 0x0007_9000, "bits 45, 46, 47, 48, 51");
        assert_ne!(gen(1) & (0x8000_0000 >> (48 - 32)), 0);
        assert_eq!(gen(1) & (0x8000_0000 >> (41 - 32)), 0, "no AIF, as QEMU");
        assert_eq!(gen(2), 0);
        assert_eq!(gen(3), 0x0008_0000, "bit 108");
        assert_eq!(chsc(0), 0x5000_0000, "SCPD (QEMU) and SSD (zcss) provided");
        assert_eq!(chsc(3), 0x0004_0000, "bit 109, as QEMU");
        assert!((4..510).all(|w| gen(w) == 0));
        assert!([1, 2].into_iter().chain(4..508).all(|w| chsc(w) == 0));
    }

    #[test]
    fn scsc_uses_context_characteristics() {
        let mut ctx = Fake::new();
        ctx.chars = Characteristics::NONE.with_general(255).with_chsc(0);
        let mut a = request(16, command::SCSC, &[]);
        run(&mut a, &mut ctx);
        assert_eq!(get_u32(&a[..], 24 + 28), 1);
        assert_eq!(get_u32(&a[..], 24 + 2040), 0x8000_0000);
        assert!(!Characteristics::NONE.with_general(256).general_bit(256));
    }

    #[test]
    fn scsc_validation() {
        let mut ctx = Fake::new();
        assert_eq!(code_of(24, command::SCSC, &[], &mut ctx), response::REQUEST_ERROR);
        assert_eq!(
            code_of(16, command::SCSC, &[0x0001_0000], &mut ctx),
            response::INVALID_FORMAT
        );
        for reserved in [
            0x8000_0000u32,
            0x4000_0000,
            0x1000_0000,
            0x0010_0000,
            0x0000_0001,
            0x0000_0080,
        ] {
            assert_eq!(
                code_of(16, command::SCSC, &[reserved], &mut ctx),
                response::REQUEST_ERROR,
                "{reserved:#x}"
            );
        }
        assert_eq!(code_of(16, command::SCSC, &[0, 1], &mut ctx), response::REQUEST_ERROR);
        assert_eq!(
            code_of(16, command::SCSC, &[0, 0, 1], &mut ctx),
            response::REQUEST_ERROR
        );
        // CSSID without M, unknown CSSID with M, known CSSID with M.
        assert_eq!(
            code_of(16, command::SCSC, &[0x0000_fe00], &mut ctx),
            response::INVALID_CSSID
        );
        assert_eq!(
            code_of(16, command::SCSC, &[0x2000_0700], &mut ctx),
            response::INVALID_CSSID
        );
        assert_eq!(code_of(16, command::SCSC, &[0x2000_fe00], &mut ctx), response::OK);
    }

    // ---- SCPD ----

    fn scpd_words(m: bool, c: bool, fmt: u32, cssid: u8, rfmt: u32, first: u8, last: u8) -> [u32; 3] {
        [
            u32::from(m) << 29 | u32::from(c) << 28 | fmt << 24 | u32::from(cssid) << 16 | rfmt << 8 | u32::from(first),
            u32::from(last),
            0,
        ]
    }

    #[test]
    fn scpd_format0_lists_installed_paths_of_default_css() {
        let mut ctx = Fake::new();
        let mut a = request(16, command::SCPD, &scpd_words(false, false, 0, 0, 0, 0, 0xff));
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.code, response::OK);
        assert_eq!(r.len, 8 + 2 * 8);
        assert_eq!(get_u32(&a[..], 20), 0, "descriptor format 0");
        assert_eq!(&a[24..32], &[0x80, 0, 0x32, 0x00, 0, 0, 0, 0]);
        assert_eq!(&a[32..40], &[0x80, 0, 0x1b, 0x42, 0, 0, 0, 0]);
    }

    #[test]
    fn scpd_single_chpid_as_linux_asks() {
        let mut ctx = Fake::new();
        let mut a = request(16, command::SCPD, &scpd_words(false, false, 0, 0, 0, 0x42, 0x42));
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.len, 16);
        assert_eq!(a[24 + 2], 0x1b);
        // Not installed: success with no descriptor (Linux sees flags 0).
        let mut a = request(16, command::SCPD, &scpd_words(false, false, 0, 0, 0, 0x43, 0x43));
        let r = run(&mut a, &mut ctx);
        assert_eq!((r.code, r.len), (response::OK, 8));
        assert_eq!(a[24], 0);
    }

    #[test]
    fn scpd_c_bit_selects_format1_32_byte_descriptors() {
        let mut ctx = Fake::new();
        let mut a = request(16, command::SCPD, &scpd_words(false, true, 0, 0, 1, 0, 0xff));
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.len, 8 + 2 * 32);
        assert_eq!(get_u32(&a[..], 20), 1);
        assert_eq!(&a[24..28], &[0x80, 0, 0x32, 0x00]);
        assert!(a[28..56].iter().all(|&b| b == 0));
        assert_eq!(&a[56..60], &[0x80, 0, 0x1b, 0x42]);
        // RFMT 1 without C is format 0 (C decides for RFMT 0 and 1).
        let mut a = request(16, command::SCPD, &scpd_words(false, false, 0, 0, 1, 0, 0xff));
        assert_eq!(run(&mut a, &mut ctx).len, 8 + 2 * 8);
    }

    #[test]
    fn scpd_other_css_with_m() {
        let mut ctx = Fake::new();
        let mut a = request(16, command::SCPD, &scpd_words(true, false, 0, 0x01, 0, 0, 0xff));
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.len, 16);
        assert_eq!(a[27], 0x10);
        assert_eq!(
            code_of(
                16,
                command::SCPD,
                &scpd_words(false, false, 0, 0x01, 0, 0, 0xff),
                &mut ctx
            ),
            response::INVALID_CSSID
        );
        assert_eq!(
            code_of(
                16,
                command::SCPD,
                &scpd_words(true, false, 0, 0x02, 0, 0, 0xff),
                &mut ctx
            ),
            response::INVALID_CSSID
        );
    }

    #[test]
    fn scpd_validation() {
        let mut ctx = Fake::new();
        let ok = scpd_words(false, false, 0, 0, 0, 0, 0);
        assert_eq!(code_of(16, command::SCPD, &ok, &mut ctx), response::OK);
        assert_eq!(code_of(24, command::SCPD, &ok, &mut ctx), response::REQUEST_ERROR);
        for reserved in [0x8000_0000u32, 0x4000_0000, 0x0000_8000, 0x0000_1000] {
            assert_eq!(
                code_of(16, command::SCPD, &[reserved, 0, 0], &mut ctx),
                response::REQUEST_ERROR
            );
        }
        assert_eq!(
            code_of(16, command::SCPD, &[0, 0x100, 0], &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(
            code_of(16, command::SCPD, &[0, 0, 1], &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(
            code_of(16, command::SCPD, &scpd_words(false, false, 1, 0, 0, 0, 0), &mut ctx),
            response::INVALID_FORMAT
        );
        assert_eq!(
            code_of(16, command::SCPD, &scpd_words(false, false, 0, 0, 2, 0, 0), &mut ctx),
            response::INVALID_FORMAT,
            "response format 2 (CIB) is not provided"
        );
        assert_eq!(
            code_of(16, command::SCPD, &scpd_words(false, false, 0, 0, 0, 5, 4), &mut ctx),
            response::REQUEST_ERROR,
            "first above last"
        );
    }

    #[test]
    fn scpd_format1_caps_descriptors_to_area() {
        struct AllPaths;
        impl ChscContext for AllPaths {
            fn default_cssid(&self) -> u8 {
                0
            }
            fn css_present(&self, _: u8) -> bool {
                true
            }
            fn mcss_enabled(&self) -> bool {
                false
            }
            fn channel_path(&self, _: u8, _: u8) -> Option<ChannelPathDescription> {
                Some(ChannelPathDescription { chpid_type: 0x32 })
            }
            fn subchannel(&self, _: u8, _: u8, _: u16) -> Option<SubchannelDescription> {
                Some(SubchannelDescription::default())
            }
            fn enable_mcss(&mut self) -> bool {
                true
            }
            fn enable_mss(&mut self) -> bool {
                true
            }
            fn sei_next(&mut self, _: u64) -> Option<SeiEvent> {
                None
            }
            fn sei_more(&self, _: u64) -> bool {
                false
            }
        }
        let mut ctx = AllPaths;
        let mut a = request(16, command::SCPD, &scpd_words(false, true, 0, 0, 0, 0, 0xff));
        let ChscOutcome::Complete(r) = execute(&mut a, &mut ctx) else {
            panic!("operand exception")
        };
        assert_eq!(r.len, 8 + 127 * 32);
        assert_eq!(a[24 + 126 * 32 + 3], 126);
        let mut a = request(16, command::SCPD, &scpd_words(false, false, 0, 0, 0, 0, 0xff));
        let ChscOutcome::Complete(r) = execute(&mut a, &mut ctx) else {
            panic!("operand exception")
        };
        assert_eq!(r.len, 8 + 256 * 8, "all 256 format-0 descriptors fit");
        // SSD over the whole subchannel range: capped at 127 descriptions.
        let mut a = request(16, command::SSD, &[0x0000_0000, 0x0000_ffff, 0]);
        let ChscOutcome::Complete(r) = execute(&mut a, &mut ctx) else {
            panic!("operand exception")
        };
        assert_eq!(r.len, 8 + 127 * 32);
        assert_eq!(get_u16(&a[..], 24 + 126 * 32 + 6), 126);
    }

    // ---- SSD ----

    fn ssd_words(m: bool, ssid: u32, fmt: u32, cssid: u8, first: u16, last: u16) -> [u32; 3] {
        [
            u32::from(m) << 29 | ssid << 20 | fmt << 16 | u32::from(first),
            u32::from(cssid) << 16 | u32::from(last),
            0,
        ]
    }

    #[test]
    fn ssd_describes_one_subchannel_as_linux_asks() {
        let mut ctx = Fake::new();
        let mut a = request(16, command::SSD, &ssd_words(false, 0, 0, 0, 0, 0));
        let r = run(&mut a, &mut ctx);
        assert_eq!((r.code, r.len), (response::OK, 8 + 32));
        let d = &a[24..56];
        assert_eq!(d[0], 0xc0, "subchannel valid, device number valid, type 0");
        assert_eq!(d[1], 0x00);
        assert_eq!(get_u16(d, 2), 0x0000);
        assert_eq!(d[4], 0x80, "path mask");
        assert_eq!(d[5], 0, "no full link addresses");
        assert_eq!(get_u16(d, 6), 0);
        assert_eq!(&d[8..16], &[0; 8]);
    }

    #[test]
    fn ssd_range_has_invalid_entries_for_missing_subchannels() {
        let mut ctx = Fake::new();
        let mut a = request(16, command::SSD, &ssd_words(false, 0, 0, 0, 0, 3));
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.len, 8 + 4 * 32);
        assert_eq!(a[24], 0xc0);
        assert!(a[56..88].iter().all(|&b| b == 0), "0.0.0001 does not exist");
        assert_eq!(a[88], 0x80, "0.0.0002: valid, DNV off");
        assert_eq!(get_u16(&a[..], 88 + 2), 0x1234);
        assert_eq!(get_u16(&a[..], 88 + 6), 2);
        assert!(a[120..152].iter().all(|&b| b == 0));
    }

    #[test]
    fn ssd_subchannel_set_visibility_follows_context() {
        let mut ctx = Fake::new();
        let mut a = request(16, command::SSD, &ssd_words(false, 1, 0, 0, 5, 5));
        run(&mut a, &mut ctx);
        assert_eq!(a[24], 0, "set 1 invisible before MSS");
        ctx.mss = true;
        let mut a = request(16, command::SSD, &ssd_words(false, 1, 0, 0, 5, 5));
        run(&mut a, &mut ctx);
        assert_eq!(a[24], 0xc0);
        assert_eq!(get_u16(&a[..], 24 + 6), 5);
    }

    #[test]
    fn ssd_validation() {
        let mut ctx = Fake::new();
        assert_eq!(
            code_of(24, command::SSD, &ssd_words(false, 0, 0, 0, 0, 0), &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(
            code_of(16, command::SSD, &ssd_words(false, 0, 1, 0, 0, 0), &mut ctx),
            response::INVALID_FORMAT
        );
        assert_eq!(
            code_of(16, command::SSD, &ssd_words(false, 0, 0, 0, 9, 8), &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(
            code_of(16, command::SSD, &ssd_words(false, 0, 0, 0xfe, 0, 0), &mut ctx),
            response::INVALID_CSSID
        );
        assert_eq!(
            code_of(16, command::SSD, &ssd_words(true, 0, 0, 0xfe, 0, 0), &mut ctx),
            response::OK
        );
        assert_eq!(
            code_of(16, command::SSD, &ssd_words(true, 0, 0, 0x33, 0, 0), &mut ctx),
            response::INVALID_CSSID
        );
        for reserved in [0x8000_0000u32, 0x1000_0000, 0x0040_0000] {
            assert_eq!(
                code_of(16, command::SSD, &[reserved, 0, 0], &mut ctx),
                response::REQUEST_ERROR
            );
        }
        assert_eq!(
            code_of(16, command::SSD, &[0, 0x0100_0000, 0], &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(code_of(16, command::SSD, &[0, 0, 4], &mut ctx), response::REQUEST_ERROR);
    }

    // ---- SEI ----

    fn sei_req(mask: u64) -> Box<[u8; CHSC_AREA_LEN]> {
        request(16, command::SEI, &[0, (mask >> 32) as u32, (mask & 0xffff_ffff) as u32])
    }

    #[test]
    fn sei_without_events_is_no_event() {
        let mut ctx = Fake::new();
        let r = run(&mut sei_req(0), &mut ctx);
        assert_eq!((r.code, r.len), (response::NO_EVENT, 8));
    }

    #[test]
    fn sei_stores_nt0_event_with_more_flag() {
        let mut ctx = Fake::new();
        for chpid in [0x40u16, 0x41] {
            ctx.events.push_back(SeiEvent::Nt0 {
                overflow: false,
                validity: 0,
                reporting_source: 4,
                content_code: 2,
                fla: 0,
                rsid: chpid,
                ccdf: vec![],
            });
        }
        let mut a = sei_req(ntsm::NT0 | ntsm::NT2);
        let r = run(&mut a, &mut ctx);
        assert_eq!((r.code, r.len), (response::OK, 8 + 16));
        assert_eq!(a[16 + 7], 0, "notification type 0");
        assert_eq!(&a[24..32], &[0x80, 0, 4, 2, 0, 0, 0, 0x40]);
        let mut a = sei_req(0);
        run(&mut a, &mut ctx);
        assert_eq!(&a[24..32], &[0x00, 0, 4, 2, 0, 0, 0, 0x41], "last event: no more flag");
        assert_eq!(run(&mut sei_req(0), &mut ctx).code, response::NO_EVENT);
    }

    #[test]
    fn sei_nt2_only_when_selected_and_ccdf_is_copied() {
        let mut ctx = Fake::new();
        ctx.events.push_back(SeiEvent::Nt2 {
            content_code: 1,
            ccdf: vec![1, 2, 3],
        });
        assert_eq!(run(&mut sei_req(0), &mut ctx).code, response::NO_EVENT);
        let mut a = sei_req(ntsm::NT2);
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.len, 8 + 56 + 3);
        assert_eq!(a[16 + 7], 2);
        assert_eq!(a[24 + 3], 1);
        assert_eq!(&a[24 + 56..24 + 59], &[1, 2, 3]);
    }

    #[test]
    fn sei_oversized_ccdf_is_truncated_to_area() {
        let mut ctx = Fake::new();
        ctx.events.push_back(SeiEvent::Nt0 {
            overflow: true,
            validity: 0xc0,
            reporting_source: 4,
            content_code: 1,
            fla: 0x1234,
            rsid: 7,
            ccdf: vec![0x5a; 10_000],
        });
        let mut a = sei_req(0);
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.offset + r.len, CHSC_AREA_LEN);
        assert_eq!(a[24], 0x40, "overflow flag");
        assert_eq!(get_u16(&a[..], 28), 0x1234);
        assert_eq!(a[CHSC_AREA_LEN - 1], 0x5a);
    }

    #[test]
    fn sei_validation() {
        let mut ctx = Fake::new();
        assert_eq!(code_of(24, command::SEI, &[], &mut ctx), response::REQUEST_ERROR);
        assert_eq!(code_of(16, command::SEI, &[1, 0, 0], &mut ctx), response::REQUEST_ERROR);
    }

    #[test]
    fn sei_event_constructors_match_linux_layouts() {
        let mut ctx = Fake::new();
        ctx.events.push_back(SeiEvent::resource_accessibility(0x42));
        ctx.events
            .push_back(SeiEvent::channel_path_availability(&[0x00, 0x09, 0xff]));
        ctx.events
            .push_back(SeiEvent::channel_path_configuration(&[0x08], ChpConfigOp::Deconfigure));
        let mut a = sei_req(0);
        run(&mut a, &mut ctx);
        assert_eq!(&a[24..32], &[0x80, 0, 4, 2, 0, 0, 0, 0x42]);
        let mut a = sei_req(0);
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.len, 8 + 16 + 32);
        assert_eq!(&a[24..28], &[0x80, 0, 0, 7]);
        let map = &a[40..72];
        assert_eq!((map[0], map[1], map[31]), (0x80, 0x40, 0x01));
        assert!(map[2..31].iter().all(|&b| b == 0));
        let mut a = sei_req(0);
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.len, 8 + 16 + 34);
        assert_eq!(&a[24..28], &[0x00, 0, 0, 8]);
        assert_eq!((a[40 + 1], a[40 + 32], a[40 + 33]), (0x80, 1, 0));
    }

    #[test]
    fn subchannel_description_from_pmcw() {
        let mut pmcw = Pmcw::default();
        pmcw.flags = pmcw.flags.with_dnv(true).with_devno(0x4711);
        pmcw.pim = 0xc0;
        pmcw.chpid = [0x10, 0x20, 0, 0, 0, 0, 0, 0];
        let d = SubchannelDescription::from_pmcw(&pmcw, 0x11);
        assert_eq!(
            d,
            SubchannelDescription {
                subchannel_type: 0,
                dnv: true,
                devno: 0x4711,
                unit_addr: 0x11,
                pim: 0xc0,
                chpids: [0x10, 0x20, 0, 0, 0, 0, 0, 0],
                fla_valid_mask: 0,
                fla: [0; 8],
            }
        );
    }

    // ---- SDA ----

    #[test]
    fn sda_enables_mcss_e_and_mss() {
        let mut ctx = Fake::new();
        let r = run(
            &mut request(0x400, command::SDA, &[u32::from(sda_op::ENABLE_MCSS_E)]),
            &mut ctx,
        );
        assert_eq!((r.code, r.len), (response::OK, 8));
        assert!(ctx.mcss);
        assert_eq!(
            code_of(0x400, command::SDA, &[u32::from(sda_op::ENABLE_MSS)], &mut ctx),
            response::OK
        );
        assert!(ctx.mss);
    }

    #[test]
    fn sda_validation_and_refusal() {
        let mut ctx = Fake::new();
        assert_eq!(code_of(0x10, command::SDA, &[2], &mut ctx), response::REQUEST_ERROR);
        assert_eq!(
            code_of(0x400, command::SDA, &[1], &mut ctx),
            response::REQUEST_ERROR,
            "undefined operation"
        );
        assert_eq!(
            code_of(0x400, command::SDA, &[0x0100_0002], &mut ctx),
            response::INVALID_FORMAT
        );
        assert_eq!(
            code_of(0x400, command::SDA, &[0x1000_0002], &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(
            code_of(0x400, command::SDA, &[0x0001_0002], &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(code_of(0x400, command::SDA, &[2, 1], &mut ctx), response::REQUEST_ERROR);
        assert!(!ctx.mss, "nothing enabled by a rejected request");
        ctx.refuse = true;
        assert_eq!(
            code_of(0x400, command::SDA, &[2], &mut ctx),
            response::FACILITY_NOT_ENABLED
        );
    }

    // ---- SDCAL ----

    #[test]
    fn sdcal_lists_default_css_until_mcss_e() {
        let mut ctx = Fake::new();
        let mut a = request(32, command::SDCAL, &[0x0400_0000]);
        let r = run(&mut a, &mut ctx);
        assert_eq!((r.code, r.len), (response::OK, 8 + 8 + 4));
        assert_eq!(&a[32 + 16..32 + 20], &[0xfe, 1, 0, 0]);
        ctx.mcss = true;
        let mut a = request(32, command::SDCAL, &[0x0400_0000]);
        let r = run(&mut a, &mut ctx);
        assert_eq!(r.len, 8 + 8 + 8);
        assert_eq!(&a[48..56], &[0x01, 1, 0, 0, 0xfe, 1, 0, 0]);
    }

    #[test]
    fn sdcal_validation() {
        let mut ctx = Fake::new();
        assert_eq!(
            code_of(16, command::SDCAL, &[0x0400_0000], &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(
            code_of(32, command::SDCAL, &[0x0300_0000], &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(
            code_of(32, command::SDCAL, &[0x0400_0001], &mut ctx),
            response::REQUEST_ERROR
        );
        assert_eq!(
            code_of(32, command::SDCAL, &[0x0400_0000, 0, 0, 0, 1], &mut ctx),
            response::REQUEST_ERROR
        );
    }
}
