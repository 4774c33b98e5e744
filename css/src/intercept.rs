//! Decoding of intercepted I/O instructions for embedders.
//!
//! An embedder (a CPU emulator, a KVM run loop, a trace replayer) hands over
//! the text of an intercepted instruction and the general registers; this
//! module names the instruction and extracts its operands, so the embedder
//! can call the matching `Css` method. It performs no privilege check (every
//! I/O instruction is privileged: the embedder raises the
//! privileged-operation exception in the problem state before decoding) and
//! no operand validation (reserved bits, alignment, the
//! subchannel-identification word: those are checked by the instruction
//! itself, in the architected priority).
//!
//! Instruction formats (Principles of Operation, chapter 5, "Instruction
//! Formats"; chapter 14, "I/O Instructions"):
//!
//! | format | bytes | used by |
//! |---|---|---|
//! | S   | `op16 · B2(4) D2(12)` | CSCH B230, HSCH B231, MSCH B232, SSCH B233, STSCH B234, TSCH B235, TPI B236, SAL B237, RSCH B238, STCRW B239, STCPS B23A, RCHP B23B, SCHM B23C, SIGA B274, XSCH B276 |
//! | RRE | `op16 · ////////(8) R1(4) R2(4)` | CHSC B25F (the request-block address is in GR R1) |
//! | RSY | `op8 · R1 R3 · B2 DL2(12) · DH2(8) · op8` | SIC EBD1 (mode in GR R1, ISC in GR R3) |
//! | RS  | `op8 · R1 R3 · B2 D2(12)` | DIAGNOSE 83 (code 0x500: virtio-ccw hypercalls) |
//!
//! KVM reports an intercepted instruction as `ipa` (the first halfword) and
//! `ipb` (the next four bytes, left-aligned in a 32-bit word); a 4-byte
//! instruction leaves the low halfword of `ipb` zero.
//! [`InstructionText::from_ipa_ipb`] takes that form,
//! [`InstructionText::from_bytes`] takes the instruction bytes as fetched.
//!
//! Operand addresses are formed as the CPU does (chapter 5, "Address
//! Generation"): base register 0 means no base; the sum wraps and is then
//! truncated to 24, 31 or 64 bits according to the addressing mode.

use thiserror::Error;

/// Why an instruction text could not be decoded as an I/O instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum InterceptError {
    /// Fewer bytes than the instruction format needs.
    #[error("instruction text of {got} bytes is too short (need {need})")]
    Truncated {
        /// Bytes given.
        got: usize,
        /// Bytes the format needs.
        need: usize,
    },
    /// The opcode is not an I/O instruction handled by the channel subsystem.
    #[error("opcode {ipa:#06x}/{ipb:#010x} is not an I/O instruction")]
    NotIoInstruction {
        /// First halfword of the instruction.
        ipa: u16,
        /// Following four bytes, left-aligned.
        ipb: u32,
    },
    /// A DIAGNOSE with a function code other than 0x500.
    #[error("DIAGNOSE code {0:#06x} is not the virtio-ccw hypercall 0x500")]
    NotIoDiagnose(u16),
}

/// The addressing mode of the PSW (bits 31-32, EA and BA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddressingMode {
    /// 24-bit mode: addresses are truncated to bits 40-63.
    Bits24,
    /// 31-bit mode: addresses are truncated to bits 33-63.
    Bits31,
    /// 64-bit mode: addresses wrap at 2^64.
    #[default]
    Bits64,
}

impl AddressingMode {
    /// The mask an address is truncated with.
    #[must_use]
    pub const fn mask(self) -> u64 {
        match self {
            Self::Bits24 => 0x00ff_ffff,
            Self::Bits31 => 0x7fff_ffff,
            Self::Bits64 => u64::MAX,
        }
    }

    /// Truncates `addr` to this mode.
    #[must_use]
    pub const fn wrap(self, addr: u64) -> u64 {
        addr & self.mask()
    }
}

/// The text of an intercepted instruction in KVM's `ipa`/`ipb` form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct InstructionText {
    /// First halfword (bytes 0-1).
    pub ipa: u16,
    /// Bytes 2-5, byte 2 in the most significant position.
    pub ipb: u32,
}

impl InstructionText {
    /// From KVM's `ipa` and `ipb`.
    #[must_use]
    pub const fn from_ipa_ipb(ipa: u16, ipb: u32) -> Self {
        Self { ipa, ipb }
    }

    /// From instruction bytes as fetched: four bytes for the S, RRE and RS
    /// formats, six for RSY (opcode 0xEB). Extra bytes are ignored.
    ///
    /// # Errors
    /// [`InterceptError::Truncated`] when `bytes` is shorter than the
    /// length the first opcode byte implies (PoO: bits 0-1 of the opcode
    /// give the length: 00 two bytes, 01/10 four, 11 six).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InterceptError> {
        let need = match bytes.first() {
            None => 2,
            Some(op) => match op >> 6 {
                0 => 2,
                1 | 2 => 4,
                _ => 6,
            },
        };
        if bytes.len() < need {
            return Err(InterceptError::Truncated { got: bytes.len(), need });
        }
        let mut b = [0u8; 6];
        b[..need].copy_from_slice(&bytes[..need]);
        Ok(Self {
            ipa: u16::from_be_bytes([b[0], b[1]]),
            ipb: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
        })
    }

    /// Instruction length in bytes, from the first two opcode bits.
    #[must_use]
    pub const fn length(self) -> u8 {
        match self.ipa >> 14 {
            0 => 2,
            1 | 2 => 4,
            _ => 6,
        }
    }

    /// B2 of the S, RS and RSY formats (bits 16-19).
    const fn b2(self) -> usize {
        ((self.ipb >> 28) & 0xf) as usize
    }

    /// D2 of the S and RS formats (bits 20-31).
    const fn d2(self) -> u64 {
        ((self.ipb >> 16) & 0xfff) as u64
    }

    /// R1 of the RRE format (bits 24-27).
    const fn rre_r1(self) -> u8 {
        ((self.ipb >> 20) & 0xf) as u8
    }

    /// R1 of the RS and RSY formats (bits 8-11).
    const fn rs_r1(self) -> usize {
        ((self.ipa >> 4) & 0xf) as usize
    }

    /// R3 of the RS and RSY formats (bits 12-15).
    const fn rs_r3(self) -> usize {
        (self.ipa & 0xf) as usize
    }

    /// The signed 20-bit displacement DH2:DL2 of the RSY format.
    const fn rsy_d2(self) -> i64 {
        let dl = ((self.ipb >> 16) & 0xfff) as i64;
        let dh = ((self.ipb >> 8) & 0xff) as i64;
        // Sign-extend the 8-bit high part.
        let dh = if dh & 0x80 != 0 { dh - 0x100 } else { dh };
        (dh << 12) | dl
    }
}

/// Effective address `D2(B2)`: GR `b2` (none for register 0) plus the
/// unsigned 12-bit displacement, wrapped to the addressing mode.
#[must_use]
pub fn effective_address(b2: usize, d2: u64, regs: &[u64; 16], mode: AddressingMode) -> u64 {
    let base = if b2 == 0 { 0 } else { regs[b2 & 0xf] };
    mode.wrap(base.wrapping_add(d2))
}

/// Effective address with a signed displacement (long-displacement formats).
#[must_use]
pub fn effective_address_signed(b2: usize, d2: i64, regs: &[u64; 16], mode: AddressingMode) -> u64 {
    let base = if b2 == 0 { 0 } else { regs[b2 & 0xf] };
    mode.wrap(base.wrapping_add_signed(d2))
}

/// The low word (bits 32-63) of a general register: where I/O instructions
/// find the subchannel-identification word and other 32-bit operands.
#[inline]
const fn low_word(r: u64) -> u32 {
    (r & 0xffff_ffff) as u32
}

/// A decoded I/O instruction with its operands.
///
/// `sid_word` is the subchannel-identification word (bits 32-63 of GR1),
/// not yet validated. Addresses are effective addresses in the addressing
/// mode given to [`IoInstruction::decode`] (logical addresses: translating
/// them is the embedder's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IoInstruction {
    /// CLEAR SUBCHANNEL (B230).
    Csch {
        /// GR1 bits 32-63.
        sid_word: u32,
    },
    /// HALT SUBCHANNEL (B231).
    Hsch {
        /// GR1 bits 32-63.
        sid_word: u32,
    },
    /// MODIFY SUBCHANNEL (B232): the SCHIB at the second-operand address.
    Msch {
        /// GR1 bits 32-63.
        sid_word: u32,
        /// Address of the SCHIB.
        schib_addr: u64,
    },
    /// START SUBCHANNEL (B233): the ORB at the second-operand address.
    Ssch {
        /// GR1 bits 32-63.
        sid_word: u32,
        /// Address of the ORB.
        orb_addr: u64,
    },
    /// STORE SUBCHANNEL (B234).
    Stsch {
        /// GR1 bits 32-63.
        sid_word: u32,
        /// Address the SCHIB is stored at.
        schib_addr: u64,
    },
    /// TEST SUBCHANNEL (B235).
    Tsch {
        /// GR1 bits 32-63.
        sid_word: u32,
        /// Address the IRB is stored at.
        irb_addr: u64,
    },
    /// TEST PENDING INTERRUPTION (B236). Address 0 means: store the
    /// interruption code in the lowcore (real locations 184-195) and take
    /// no I/O interruption.
    Tpi {
        /// Second-operand address (0: lowcore).
        intcode_addr: u64,
    },
    /// SET ADDRESS LIMIT (B237); operand in GR1.
    Sal {
        /// GR1 bits 32-63.
        gr1: u32,
    },
    /// RESUME SUBCHANNEL (B238).
    Rsch {
        /// GR1 bits 32-63.
        sid_word: u32,
    },
    /// STORE CHANNEL REPORT WORD (B239).
    Stcrw {
        /// Address the CRW (a word) is stored at.
        crw_addr: u64,
    },
    /// STORE CHANNEL PATH STATUS (B23A).
    Stcps {
        /// Address of the 32-byte channel-path-status word area.
        addr: u64,
    },
    /// RESET CHANNEL PATH (B23B); CSSID and CHPID in GR1.
    Rchp {
        /// GR1 bits 32-63.
        gr1: u32,
    },
    /// SET CHANNEL MONITOR (B23C); controls in GR1, measurement-block
    /// origin in GR2. The second-operand address is not used.
    Schm {
        /// GR1 bits 32-63.
        gr1: u32,
        /// All 64 bits of GR2 (the MBO).
        gr2: u64,
    },
    /// SIGNAL ADAPTER (B274); function code in GR0, subchannel in GR1.
    Siga {
        /// GR0.
        gr0: u64,
        /// GR1 bits 32-63.
        sid_word: u32,
        /// GR2 (function-dependent parameter).
        gr2: u64,
    },
    /// CANCEL SUBCHANNEL (B276).
    Xsch {
        /// GR1 bits 32-63.
        sid_word: u32,
    },
    /// CHANNEL SUBSYSTEM CALL (B25F): the request block is at the address
    /// in GR R1.
    Chsc {
        /// The R1 field.
        r1: u8,
        /// Contents of GR R1, wrapped to the addressing mode.
        block_addr: u64,
    },
    /// SET INTERRUPTION CONTROLS (EBD1).
    Sic {
        /// Contents of GR R1 (the interruption mode in bits 48-63).
        gr_r1: u64,
        /// Contents of GR R3 (the ISC in bits 34-36).
        gr_r3: u64,
        /// Second-operand address D2(B2) (used only by some modes).
        addr: u64,
    },
    /// DIAGNOSE code 0x500 (virtio-ccw hypercalls): subcode in GR1,
    /// parameters in GR2-GR4, result back in GR2.
    Diag500 {
        /// GR1: the subcode (3 = notify).
        subcode: u64,
        /// GR2 (for notify: subchannel-identification word).
        gr2: u64,
        /// GR3 (for notify: queue index / notification data).
        gr3: u64,
        /// GR4 (for notify: the host cookie).
        gr4: u64,
    },
}

impl IoInstruction {
    /// Decodes `text` against the register file `regs` in addressing mode
    /// `mode`.
    ///
    /// # Errors
    /// [`InterceptError::NotIoInstruction`] for any other opcode;
    /// [`InterceptError::NotIoDiagnose`] for a DIAGNOSE other than 0x500.
    pub fn decode(text: InstructionText, regs: &[u64; 16], mode: AddressingMode) -> Result<Self, InterceptError> {
        let not_io = || InterceptError::NotIoInstruction {
            ipa: text.ipa,
            ipb: text.ipb,
        };
        let sid_word = low_word(regs[1]);
        let op_addr = || effective_address(text.b2(), text.d2(), regs, mode);
        let [op1, op2] = text.ipa.to_be_bytes();
        Ok(match op1 {
            0xb2 => match op2 {
                0x30 => Self::Csch { sid_word },
                0x31 => Self::Hsch { sid_word },
                0x32 => Self::Msch {
                    sid_word,
                    schib_addr: op_addr(),
                },
                0x33 => Self::Ssch {
                    sid_word,
                    orb_addr: op_addr(),
                },
                0x34 => Self::Stsch {
                    sid_word,
                    schib_addr: op_addr(),
                },
                0x35 => Self::Tsch {
                    sid_word,
                    irb_addr: op_addr(),
                },
                0x36 => Self::Tpi {
                    intcode_addr: op_addr(),
                },
                0x37 => Self::Sal { gr1: sid_word },
                0x38 => Self::Rsch { sid_word },
                0x39 => Self::Stcrw { crw_addr: op_addr() },
                0x3a => Self::Stcps { addr: op_addr() },
                0x3b => Self::Rchp { gr1: sid_word },
                0x3c => Self::Schm {
                    gr1: sid_word,
                    gr2: regs[2],
                },
                0x5f => {
                    let r1 = text.rre_r1();
                    Self::Chsc {
                        r1,
                        block_addr: mode.wrap(regs[usize::from(r1)]),
                    }
                }
                0x74 => Self::Siga {
                    gr0: regs[0],
                    sid_word,
                    gr2: regs[2],
                },
                0x76 => Self::Xsch { sid_word },
                _ => return Err(not_io()),
            },
            0xeb if text.ipb & 0xff == 0xd1 => Self::Sic {
                gr_r1: regs[text.rs_r1()],
                gr_r3: regs[text.rs_r3()],
                addr: effective_address_signed(text.b2(), text.rsy_d2(), regs, mode),
            },
            0x83 => {
                // The function code is bits 48-63 of the second-operand
                // address, whatever the addressing mode.
                let code = (effective_address(text.b2(), text.d2(), regs, AddressingMode::Bits64) & 0xffff) as u16;
                if code != 0x500 {
                    return Err(InterceptError::NotIoDiagnose(code));
                }
                Self::Diag500 {
                    subcode: regs[1],
                    gr2: regs[2],
                    gr3: regs[3],
                    gr4: regs[4],
                }
            }
            _ => return Err(not_io()),
        })
    }

    /// The assembler mnemonic.
    #[must_use]
    pub const fn mnemonic(&self) -> &'static str {
        match self {
            Self::Csch { .. } => "CSCH",
            Self::Hsch { .. } => "HSCH",
            Self::Msch { .. } => "MSCH",
            Self::Ssch { .. } => "SSCH",
            Self::Stsch { .. } => "STSCH",
            Self::Tsch { .. } => "TSCH",
            Self::Tpi { .. } => "TPI",
            Self::Sal { .. } => "SAL",
            Self::Rsch { .. } => "RSCH",
            Self::Stcrw { .. } => "STCRW",
            Self::Stcps { .. } => "STCPS",
            Self::Rchp { .. } => "RCHP",
            Self::Schm { .. } => "SCHM",
            Self::Siga { .. } => "SIGA",
            Self::Xsch { .. } => "XSCH",
            Self::Chsc { .. } => "CHSC",
            Self::Sic { .. } => "SIC",
            Self::Diag500 { .. } => "DIAG 500",
        }
    }

    /// Instruction length in bytes (for advancing the PSW).
    #[must_use]
    pub const fn length(&self) -> u8 {
        match self {
            Self::Sic { .. } => 6,
            _ => 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes an S-format instruction `op16 B2 D2`.
    fn s_format(op: u16, b2: u8, d2: u16) -> [u8; 4] {
        let [o1, o2] = op.to_be_bytes();
        [o1, o2, (b2 << 4) | ((d2 >> 8) as u8 & 0xf), (d2 & 0xff) as u8]
    }

    fn regs() -> [u64; 16] {
        let mut r = [0u64; 16];
        for (i, v) in r.iter_mut().enumerate() {
            *v = 0x1111_0000_0000_0000 * (i as u64) + 0x1000 * (i as u64);
        }
        r[1] = 0xdead_beef_0001_0042;
        r
    }

    fn decode(bytes: &[u8], regs: &[u64; 16], mode: AddressingMode) -> Result<IoInstruction, InterceptError> {
        IoInstruction::decode(InstructionText::from_bytes(bytes)?, regs, mode)
    }

    #[test]
    fn decode_ssch_uses_low_word_of_gr1_and_base_plus_displacement() {
        let mut r = regs();
        r[5] = 0x2000;
        let insn = decode(&s_format(0xb233, 5, 0x0f8), &r, AddressingMode::Bits64).unwrap();
        assert_eq!(
            insn,
            IoInstruction::Ssch {
                sid_word: 0x0001_0042,
                orb_addr: 0x20f8
            }
        );
        assert_eq!(insn.mnemonic(), "SSCH");
        assert_eq!(insn.length(), 4);
    }

    #[test]
    fn decode_base_register_zero_means_no_base() {
        let mut r = regs();
        r[0] = 0xffff_0000;
        let insn = decode(&s_format(0xb234, 0, 0xabc), &r, AddressingMode::Bits64).unwrap();
        assert_eq!(
            insn,
            IoInstruction::Stsch {
                sid_word: 0x0001_0042,
                schib_addr: 0xabc
            }
        );
    }

    #[test]
    fn decode_address_wraps_in_each_addressing_mode() {
        let mut r = regs();
        r[7] = 0xffff_ffff_ffff_fff0;
        let bytes = s_format(0xb235, 7, 0x20);
        let addr = |mode| match decode(&bytes, &r, mode).unwrap() {
            IoInstruction::Tsch { irb_addr, .. } => irb_addr,
            other => panic!("decoded {other:?}"),
        };
        assert_eq!(addr(AddressingMode::Bits64), 0x10);
        assert_eq!(addr(AddressingMode::Bits31), 0x10);
        r[7] = 0x8123_4567_0fff_fff0;
        let bytes = s_format(0xb235, 7, 0x20);
        let addr = |mode| match decode(&bytes, &r, mode).unwrap() {
            IoInstruction::Tsch { irb_addr, .. } => irb_addr,
            other => panic!("decoded {other:?}"),
        };
        assert_eq!(addr(AddressingMode::Bits64), 0x8123_4567_1000_0010);
        assert_eq!(addr(AddressingMode::Bits31), 0x1000_0010);
        assert_eq!(addr(AddressingMode::Bits24), 0x10);
    }

    #[test]
    fn decode_every_s_format_io_opcode() {
        let r = regs();
        let cases: [(u16, &str); 15] = [
            (0xb230, "CSCH"),
            (0xb231, "HSCH"),
            (0xb232, "MSCH"),
            (0xb233, "SSCH"),
            (0xb234, "STSCH"),
            (0xb235, "TSCH"),
            (0xb236, "TPI"),
            (0xb237, "SAL"),
            (0xb238, "RSCH"),
            (0xb239, "STCRW"),
            (0xb23a, "STCPS"),
            (0xb23b, "RCHP"),
            (0xb23c, "SCHM"),
            (0xb274, "SIGA"),
            (0xb276, "XSCH"),
        ];
        for (op, name) in cases {
            let insn = decode(&s_format(op, 0, 0x100), &r, AddressingMode::Bits64).unwrap();
            assert_eq!(insn.mnemonic(), name, "opcode {op:#x}");
        }
    }

    #[test]
    fn decode_operand_fields_of_register_only_instructions() {
        let mut r = regs();
        r[0] = 0x0a;
        r[2] = 0x1234_5678_9abc_def0;
        let d = |op| decode(&s_format(op, 3, 0x10), &r, AddressingMode::Bits64).unwrap();
        assert_eq!(d(0xb230), IoInstruction::Csch { sid_word: 0x0001_0042 });
        assert_eq!(d(0xb231), IoInstruction::Hsch { sid_word: 0x0001_0042 });
        assert_eq!(d(0xb238), IoInstruction::Rsch { sid_word: 0x0001_0042 });
        assert_eq!(d(0xb276), IoInstruction::Xsch { sid_word: 0x0001_0042 });
        assert_eq!(d(0xb237), IoInstruction::Sal { gr1: 0x0001_0042 });
        assert_eq!(d(0xb23b), IoInstruction::Rchp { gr1: 0x0001_0042 });
        assert_eq!(
            d(0xb23c),
            IoInstruction::Schm {
                gr1: 0x0001_0042,
                gr2: 0x1234_5678_9abc_def0
            }
        );
        assert_eq!(
            d(0xb274),
            IoInstruction::Siga {
                gr0: 0x0a,
                sid_word: 0x0001_0042,
                gr2: 0x1234_5678_9abc_def0
            }
        );
        assert_eq!(
            d(0xb236),
            IoInstruction::Tpi {
                intcode_addr: 0x3010 + 0x3333_0000_0000_0000
            }
        );
    }

    #[test]
    fn decode_tpi_with_zero_address_stays_zero() {
        let r = regs();
        assert_eq!(
            decode(&s_format(0xb236, 0, 0), &r, AddressingMode::Bits64).unwrap(),
            IoInstruction::Tpi { intcode_addr: 0 }
        );
    }

    #[test]
    fn decode_chsc_takes_block_address_from_r1() {
        let mut r = regs();
        r[6] = 0x0000_0000_0007_f000;
        // B25F 0060: RRE with R1 = 6, R2 = 0.
        let insn = decode(&[0xb2, 0x5f, 0x00, 0x60], &r, AddressingMode::Bits64).unwrap();
        assert_eq!(
            insn,
            IoInstruction::Chsc {
                r1: 6,
                block_addr: 0x7f000
            }
        );
        r[6] = 0xffff_ffff_8000_1000;
        let insn = decode(&[0xb2, 0x5f, 0x00, 0x60], &r, AddressingMode::Bits31).unwrap();
        assert_eq!(
            insn,
            IoInstruction::Chsc {
                r1: 6,
                block_addr: 0x1000
            }
        );
    }

    #[test]
    fn decode_sic_reads_r1_r3_and_signed_displacement() {
        let mut r = regs();
        r[4] = 1; // single-interruption mode
        r[5] = 3 << 27; // ISC 3
        r[9] = 0x10_0000;
        // EB45 9FFF FFD1: SIC R1=4, R3=5, B2=9, DL2=0xfff, DH2=0xff (-1).
        let insn = decode(&[0xeb, 0x45, 0x9f, 0xff, 0xff, 0xd1], &r, AddressingMode::Bits64).unwrap();
        assert_eq!(
            insn,
            IoInstruction::Sic {
                gr_r1: 1,
                gr_r3: 3 << 27,
                addr: 0x10_0000 - 1
            }
        );
        assert_eq!(insn.length(), 6);
        // Positive DH2.
        let insn = decode(&[0xeb, 0x45, 0x90, 0x10, 0x01, 0xd1], &r, AddressingMode::Bits64).unwrap();
        assert!(matches!(insn, IoInstruction::Sic { addr: 0x10_1010, .. }));
    }

    #[test]
    fn decode_other_eb_opcode_is_not_io() {
        let r = regs();
        // EB..04 is LMG.
        let err = decode(&[0xeb, 0x45, 0x90, 0x00, 0x00, 0x04], &r, AddressingMode::Bits64).unwrap_err();
        assert_eq!(
            err,
            InterceptError::NotIoInstruction {
                ipa: 0xeb45,
                ipb: 0x9000_0004
            }
        );
    }

    #[test]
    fn decode_diag_500_collects_gr1_to_gr4() {
        let mut r = regs();
        r[1] = 3;
        r[2] = 0x0001_0000;
        r[3] = 2;
        r[4] = 0xc00c1e;
        // 83 00 0500: DIAG R1=0 R3=0, D2=0x500, B2=0.
        let insn = decode(&[0x83, 0x00, 0x05, 0x00], &r, AddressingMode::Bits64).unwrap();
        assert_eq!(
            insn,
            IoInstruction::Diag500 {
                subcode: 3,
                gr2: 0x0001_0000,
                gr3: 2,
                gr4: 0xc00c1e
            }
        );
        // Code formed from base + displacement: 0x4f0 + 0x10.
        r[12] = 0xffff_0000_0000_04f0;
        let insn = decode(&[0x83, 0x00, 0xc0, 0x10], &r, AddressingMode::Bits24).unwrap();
        assert_eq!(insn.mnemonic(), "DIAG 500");
    }

    #[test]
    fn decode_other_diag_code_is_rejected() {
        let r = regs();
        assert_eq!(
            decode(&[0x83, 0x00, 0x04, 0x4c], &r, AddressingMode::Bits64),
            Err(InterceptError::NotIoDiagnose(0x44c))
        );
    }

    #[test]
    fn decode_non_io_b2_opcode_is_rejected() {
        let r = regs();
        for op in [0xb200u16, 0xb22f, 0xb23d, 0xb25e, 0xb275, 0xb277, 0xb2ff] {
            assert_eq!(
                decode(&s_format(op, 0, 0), &r, AddressingMode::Bits64),
                Err(InterceptError::NotIoInstruction { ipa: op, ipb: 0 }),
                "opcode {op:#x}"
            );
        }
        assert!(matches!(
            decode(&[0x18, 0x12], &r, AddressingMode::Bits64),
            Err(InterceptError::NotIoInstruction { ipa: 0x1812, .. })
        ));
    }

    #[test]
    fn from_bytes_rejects_short_text() {
        assert_eq!(
            InstructionText::from_bytes(&[]),
            Err(InterceptError::Truncated { got: 0, need: 2 })
        );
        assert_eq!(
            InstructionText::from_bytes(&[0xb2, 0x33, 0x10]),
            Err(InterceptError::Truncated { got: 3, need: 4 })
        );
        assert_eq!(
            InstructionText::from_bytes(&[0xeb, 0x45, 0x90, 0x00, 0x00]),
            Err(InterceptError::Truncated { got: 5, need: 6 })
        );
    }

    #[test]
    fn from_bytes_matches_kvm_ipa_ipb() {
        let t = InstructionText::from_bytes(&[0xb2, 0x33, 0x50, 0xf8, 0x99, 0x99]).unwrap();
        assert_eq!(t, InstructionText::from_ipa_ipb(0xb233, 0x50f8_0000));
        assert_eq!(t.length(), 4);
        let t = InstructionText::from_bytes(&[0xeb, 0x45, 0x9f, 0xff, 0xff, 0xd1]).unwrap();
        assert_eq!(t, InstructionText::from_ipa_ipb(0xeb45, 0x9fff_ffd1));
        assert_eq!(t.length(), 6);
    }

    #[test]
    fn decode_from_kvm_ipa_ipb_form() {
        let mut r = regs();
        r[5] = 0x2000;
        let insn = IoInstruction::decode(
            InstructionText::from_ipa_ipb(0xb239, 0x5008_0000),
            &r,
            AddressingMode::Bits64,
        )
        .unwrap();
        assert_eq!(insn, IoInstruction::Stcrw { crw_addr: 0x2008 });
    }
}
