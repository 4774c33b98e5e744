//! virtio-ccw channel commands and their payloads (virtio 1.x §4.3.2
//! "Device Initialization" for channel I/O). Payloads are big-endian except
//! the feature word, which is little-endian.

/// NO-OPERATION (PoO chapter 15; path verification uses it with count 0).
pub const CCW_CMD_NOOP: u8 = 0x03;
/// BASIC SENSE.
pub const CCW_CMD_BASIC_SENSE: u8 = 0x04;
/// SENSE ID.
pub const CCW_CMD_SENSE_ID: u8 = 0xe4;
/// Sets up a virtqueue.
pub const CCW_CMD_SET_VQ: u8 = 0x13;
/// Resets the virtio device.
pub const CCW_CMD_VDEV_RESET: u8 = 0x33;
/// Reads one 32-bit page of device features.
pub const CCW_CMD_READ_FEAT: u8 = 0x12;
/// Writes one 32-bit page of driver features.
pub const CCW_CMD_WRITE_FEAT: u8 = 0x11;
/// Reads the device configuration space.
pub const CCW_CMD_READ_CONF: u8 = 0x22;
/// Writes the device configuration space.
pub const CCW_CMD_WRITE_CONF: u8 = 0x21;
/// Writes the device status byte.
pub const CCW_CMD_WRITE_STATUS: u8 = 0x31;
/// Reads the device status byte (revision 2).
pub const CCW_CMD_READ_STATUS: u8 = 0x72;
/// Sets the classic queue indicators.
pub const CCW_CMD_SET_IND: u8 = 0x43;
/// Sets the configuration-change indicator.
pub const CCW_CMD_SET_CONF_IND: u8 = 0x53;
/// Reads a queue's maximum size.
pub const CCW_CMD_READ_VQ_CONF: u8 = 0x32;
/// Sets up adapter (two-stage) indicators (revision ≥ 1).
pub const CCW_CMD_SET_IND_ADAPTER: u8 = 0x73;
/// Negotiates the transport revision.
pub const CCW_CMD_SET_VIRTIO_REV: u8 = 0x83;

/// SET_VQ payload, legacy (revision 0): `{u64 queue; u32 align; u16 index; u16 num}`.
pub const VQ_INFO_LEGACY_LEN: usize = 16;
/// SET_VQ payload, revision ≥ 1: `{u64 desc; u32 res0; u16 index; u16 num; u64 avail; u64 used}`.
pub const VQ_INFO_LEN: usize = 32;
/// READ_FEAT/WRITE_FEAT payload: `{le32 features; u8 index}`.
pub const FEAT_LEN: usize = 5;
/// READ_VQ_CONF payload: `{u16 index; u16 num_max}`.
pub const VQ_CONFIG_LEN: usize = 4;
/// SET_IND_ADAPTER payload: `{u64 summary; u64 indicator; u64 bit_nr; u8 isc}`.
pub const THININT_LEN: usize = 25;
/// SET_VIRTIO_REV fixed part: `{u16 revision; u16 length}`.
pub const REV_INFO_LEN: usize = 4;
/// Bytes of SENSE ID data the proxy offers: 8 identification bytes, no
/// CIWs, zeros up to 256 (the SENSE ID data area size the PoO allows).
pub const SENSE_ID_LEN: usize = 256;
/// Bytes of BASIC SENSE data.
pub const SENSE_LEN: usize = 32;
/// Control-unit type of the virtio proxy.
pub const VIRTIO_CCW_CU_TYPE: u16 = 0x3832;
/// Channel-path type of the virtual channel path.
pub const VIRTIO_CCW_CHPID_TYPE: u8 = 0x32;
/// The CHPID of the virtual channel path virtio devices hang on (QEMU's
/// choice, pinned so that traces stay deterministic).
pub const VIRTIO_CCW_CHPID: u8 = 0x00;
/// Highest transport revision implemented.
pub const MAX_REVISION: u8 = 2;
/// Most queues classic indicators can address (one bit each in a doubleword).
pub const MAX_CLASSIC_QUEUES: usize = 64;

/// Whether `cmd` is one of the virtio-ccw commands (not the basic NOP,
/// SENSE or SENSE ID, which every control unit answers).
#[must_use]
pub const fn is_virtio_command(cmd: u8) -> bool {
    matches!(
        cmd,
        CCW_CMD_SET_VQ
            | CCW_CMD_VDEV_RESET
            | CCW_CMD_READ_FEAT
            | CCW_CMD_WRITE_FEAT
            | CCW_CMD_READ_CONF
            | CCW_CMD_WRITE_CONF
            | CCW_CMD_WRITE_STATUS
            | CCW_CMD_READ_STATUS
            | CCW_CMD_SET_IND
            | CCW_CMD_SET_CONF_IND
            | CCW_CMD_READ_VQ_CONF
            | CCW_CMD_SET_IND_ADAPTER
            | CCW_CMD_SET_VIRTIO_REV
    )
}

/// Big-endian u16 at `off` of `b`.
#[must_use]
pub fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Big-endian u32 at `off` of `b`.
#[must_use]
pub fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Big-endian u64 at `off` of `b`.
#[must_use]
pub fn be64(b: &[u8], off: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[off..off + 8]);
    u64::from_be_bytes(a)
}
