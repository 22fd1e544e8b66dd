//! A BPF disassembler in the kernel verifier's (and bpftool's) syntax, for
//! `prog dump xlated`.

use std::collections::BTreeMap;

/// Kernel symbols by address, to name helper calls (the kernel's xlated
/// instructions call helpers by offset from `__bpf_call_base`).
pub struct Symbols {
    call_base: Option<u64>,
    by_addr: BTreeMap<u64, String>,
}

impl Symbols {
    /// Reads `/proc/kallsyms` (all zeros without privilege: then helper
    /// calls print as offsets).
    pub fn load() -> Self {
        let mut by_addr = BTreeMap::new();
        let mut call_base = None;
        if let Ok(text) = std::fs::read_to_string("/proc/kallsyms") {
            for line in text.lines() {
                let mut parts = line.split_whitespace();
                let (Some(addr), Some(_), Some(name)) = (parts.next(), parts.next(), parts.next())
                else {
                    continue;
                };
                let Ok(addr) = u64::from_str_radix(addr, 16) else {
                    continue;
                };
                if addr == 0 {
                    continue;
                }
                if name == "__bpf_call_base" {
                    call_base = Some(addr);
                }
                if name.starts_with("bpf_") {
                    by_addr.insert(addr, name.to_owned());
                }
            }
        }
        Self { call_base, by_addr }
    }

    fn helper(&self, imm: i32) -> Option<&str> {
        let addr = self.call_base?.wrapping_add_signed(i64::from(imm));
        self.by_addr.get(&addr).map(String::as_str)
    }
}

fn size(code: u8) -> &'static str {
    match code & 0x18 {
        0x00 => "u32",
        0x08 => "u16",
        0x10 => "u8",
        _ => "u64",
    }
}

fn alu_op(op: u8) -> &'static str {
    match op {
        0x00 => "+=",
        0x10 => "-=",
        0x20 => "*=",
        0x30 => "/=",
        0x40 => "|=",
        0x50 => "&=",
        0x60 => "<<=",
        0x70 => ">>=",
        0x90 => "%=",
        0xa0 => "^=",
        0xb0 => "=",
        0xc0 => "s>>=",
        _ => "?=",
    }
}

fn jmp_op(op: u8) -> &'static str {
    match op {
        0x10 => "==",
        0x20 => ">",
        0x30 => ">=",
        0x40 => "&",
        0x50 => "!=",
        0x60 => "s>",
        0x70 => "s>=",
        0xa0 => "<",
        0xb0 => "<=",
        0xc0 => "s<",
        0xd0 => "s<=",
        _ => "?",
    }
}

/// The fields of one instruction.
struct Insn {
    code: u8,
    dst: u8,
    src: u8,
    off: i16,
    imm: i32,
}

fn decode(raw: &[u8; 8]) -> Insn {
    Insn {
        code: raw[0],
        dst: raw[1] & 0xf,
        src: raw[1] >> 4,
        off: i16::from_le_bytes([raw[2], raw[3]]),
        imm: i32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]),
    }
}

fn signed(off: i16) -> String {
    if off < 0 {
        format!("{off}")
    } else {
        format!("+{off}")
    }
}

/// Disassembles `insns`: one `(pc, text)` per instruction (a 16-byte
/// `ld_imm64` takes two slots and one line).
pub fn disassemble(insns: &[[u8; 8]], symbols: &Symbols) -> Vec<(usize, String)> {
    let mut out = vec![];
    let mut pc = 0;
    while let Some(raw) = insns.get(pc) {
        let i = decode(raw);
        let class = i.code & 0x07;
        let (d, s) = (i.dst, i.src);
        let text = match class {
            // BPF_ALU and BPF_ALU64.
            0x04 | 0x07 => {
                let r = if class == 0x07 { 'r' } else { 'w' };
                let op = i.code & 0xf0;
                let from_reg = i.code & 0x08 != 0;
                match op {
                    0x80 => format!("{r}{d} = -{r}{d}"),
                    0xd0 => {
                        let order = if class == 0x07 {
                            "bswap"
                        } else if from_reg {
                            "be"
                        } else {
                            "le"
                        };
                        format!("r{d} = {order}{} r{d}", i.imm)
                    }
                    0xb0 if from_reg && i.off != 0 => {
                        format!("{r}{d} = (s{}){r}{s}", i.off)
                    }
                    _ if from_reg => format!("{r}{d} {} {r}{s}", alu_op(op)),
                    _ => format!("{r}{d} {} {}", alu_op(op), i.imm),
                }
            }
            // BPF_LDX.
            0x01 => format!("r{d} = *({} *)(r{s} {})", size(i.code), signed(i.off)),
            // BPF_ST.
            0x02 => format!("*({} *)(r{d} {}) = {}", size(i.code), signed(i.off), i.imm),
            // BPF_STX: plain stores and atomics.
            0x03 if i.code & 0xe0 == 0xc0 => {
                let op = match i.imm & !1 {
                    0x00 => "+=",
                    0x40 => "|=",
                    0x50 => "&=",
                    0xa0 => "^=",
                    0xe0 => "xchg",
                    0xf0 => "cmpxchg",
                    _ => "?=",
                };
                let fetch = if i.imm & 1 != 0 { " (fetch)" } else { "" };
                format!(
                    "lock *({} *)(r{d} {}) {op} r{s}{fetch}",
                    size(i.code),
                    signed(i.off)
                )
            }
            0x03 => format!("*({} *)(r{d} {}) = r{s}", size(i.code), signed(i.off)),
            // BPF_LD: ld_imm64 (two slots).
            0x00 if i.code == 0x18 => {
                let hi = insns.get(pc + 1).map(decode).map_or(0, |n| n.imm);
                let text = match s {
                    1 => format!("r{d} = map[id:{}]", i.imm),
                    2 => format!("r{d} = map[id:{}][0]+{hi}", i.imm),
                    _ => {
                        let value = (u64::from(hi as u32) << 32) | u64::from(i.imm as u32);
                        format!("r{d} = {value:#x}")
                    }
                };
                out.push((pc, text));
                pc += 2;
                continue;
            }
            // BPF_JMP and BPF_JMP32.
            0x05 | 0x06 => {
                let op = i.code & 0xf0;
                let r = if class == 0x06 { 'w' } else { 'r' };
                match op {
                    0x00 if class == 0x06 => format!("gotol pc{}", signed(i.imm as i16)),
                    0x00 => format!("goto pc{}", signed(i.off)),
                    0x80 => match s {
                        1 => format!("call pc{}", signed(i.imm as i16)),
                        2 => format!("call kernel-function#{}", i.imm),
                        _ => match symbols.helper(i.imm) {
                            Some(name) => format!("call {name}#{}", i.imm),
                            None => format!("call #{}", i.imm),
                        },
                    },
                    0x90 => "exit".to_owned(),
                    0xe0 if class == 0x05 => format!("may_goto pc{}", signed(i.off)),
                    _ if i.code & 0x08 != 0 => {
                        format!("if {r}{d} {} {r}{s} goto pc{}", jmp_op(op), signed(i.off))
                    }
                    _ => format!(
                        "if {r}{d} {} {:#x} goto pc{}",
                        jmp_op(op),
                        i.imm,
                        signed(i.off)
                    ),
                }
            }
            _ => format!("(unknown opcode {:#04x})", i.code),
        };
        out.push((pc, text));
        pc += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
        let mut raw = [0u8; 8];
        raw[0] = code;
        raw[1] = dst | (src << 4);
        raw[2..4].copy_from_slice(&off.to_le_bytes());
        raw[4..8].copy_from_slice(&imm.to_le_bytes());
        raw
    }

    #[test]
    fn verifier_syntax() {
        let symbols = Symbols {
            call_base: None,
            by_addr: BTreeMap::new(),
        };
        let program = [
            insn(0xbf, 6, 1, 0, 0),
            insn(0xb7, 0, 0, 0, 2),
            insn(0x61, 2, 6, 4, 0),
            insn(0x63, 10, 2, -4, 0),
            insn(0x18, 1, 1, 0, 7),
            insn(0, 0, 0, 0, 0),
            insn(0x15, 2, 0, 1, 0),
            insn(0x85, 0, 0, 0, 1),
            insn(0x95, 0, 0, 0, 0),
        ];
        let text: Vec<String> = disassemble(&program, &symbols)
            .into_iter()
            .map(|(pc, t)| format!("{pc}: {t}"))
            .collect();
        assert_eq!(
            text,
            [
                "0: r6 = r1",
                "1: r0 = 2",
                "2: r2 = *(u32 *)(r6 +4)",
                "3: *(u32 *)(r10 -4) = r2",
                "4: r1 = map[id:7]",
                "6: if r2 == 0x0 goto pc+1",
                "7: call #1",
                "8: exit",
            ]
        );
    }
}
