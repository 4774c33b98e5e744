//! How the proxy control unit moves the data of one command: through the
//! channel's [`DataStream`] in a real channel program, through a buffer in
//! unit tests. The control unit transfers exactly its payload size and lets
//! the channel judge the count (incorrect length when it differs and SLI is
//! off, PoO chapter 15 "Incorrect Length").

use zcss_ccw::DataStream;

/// The data path of one command.
pub trait Transfer {
    /// Storage → device; returns the bytes moved (fewer when the count ran out).
    fn read(&mut self, buf: &mut [u8]) -> usize;
    /// Device → storage; returns the bytes moved.
    fn write(&mut self, data: &[u8]) -> usize;
    /// Whether a channel check stopped the transfer.
    fn failed(&self) -> bool;
    /// Fetches `buf.len()` bytes at `offset` in the data area without
    /// transferring them. READ_FEAT and READ_VQ_CONF are read commands whose
    /// payload carries an index the driver filled in; the device must see it
    /// before it stores its answer over it. False when the bytes are not
    /// within the count (or, through a channel, not in one contiguous run of
    /// storage, or a check stopped the fetch: see [`Transfer::failed`]).
    fn peek(&mut self, offset: usize, buf: &mut [u8]) -> bool;
}

/// The channel's [`DataStream`] of the current command. Peeking uses
/// [`DataStream::peek`], so direct, IDAW and MIDAW addressing all work and
/// the device needs no access to guest storage of its own.
pub struct StreamTransfer<'s, 'a> {
    /// The channel's data stream.
    pub stream: &'s mut DataStream<'a>,
}

impl Transfer for StreamTransfer<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        self.stream.read(buf)
    }

    fn write(&mut self, data: &[u8]) -> usize {
        self.stream.write(data)
    }

    fn failed(&self) -> bool {
        self.stream.failed()
    }

    fn peek(&mut self, offset: usize, buf: &mut [u8]) -> bool {
        self.stream.peek(offset, buf)
    }
}

/// A data area of `count` bytes in host memory, for unit tests and fuzzing:
/// reads and writes stop at the count like a CCW's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BufferTransfer {
    /// The data area (its length is the CCW count).
    pub area: Vec<u8>,
    /// Bytes transferred so far.
    pub pos: usize,
    /// Whether any transfer was attempted.
    pub touched: bool,
}

impl BufferTransfer {
    /// An area holding `data` (count = its length).
    #[must_use]
    pub fn new(data: &[u8]) -> Self {
        Self {
            area: data.to_vec(),
            pos: 0,
            touched: false,
        }
    }

    /// A zeroed area of `count` bytes.
    #[must_use]
    pub fn zeroed(count: usize) -> Self {
        Self::new(&vec![0; count])
    }

    /// The residual count.
    #[must_use]
    pub fn residual(&self) -> usize {
        self.area.len() - self.pos
    }
}

impl Transfer for BufferTransfer {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        self.touched = true;
        let n = buf.len().min(self.residual());
        buf[..n].copy_from_slice(&self.area[self.pos..self.pos + n]);
        self.pos += n;
        n
    }

    fn write(&mut self, data: &[u8]) -> usize {
        self.touched = true;
        let n = data.len().min(self.residual());
        self.area[self.pos..self.pos + n].copy_from_slice(&data[..n]);
        self.pos += n;
        n
    }

    fn failed(&self) -> bool {
        false
    }

    fn peek(&mut self, offset: usize, buf: &mut [u8]) -> bool {
        let Some(src) = offset
            .checked_add(self.pos)
            .and_then(|start| Some(start..start.checked_add(buf.len())?))
            .and_then(|r| self.area.get(r))
        else {
            return false;
        };
        buf.copy_from_slice(src);
        true
    }
}
