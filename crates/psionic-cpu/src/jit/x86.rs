//! The few x86-64 instructions the fused-chain JIT emits, encoded by hand: AVX (VEX,
//! 256-bit) arithmetic on ymm registers, its loads and stores, and the integer moves,
//! pushes and branches of one counted loop. Each encoder writes exactly one instruction.
//!
//! Memory operands come in two shapes only: an array read at the loop's index
//! (`[base + rax*scale]`, `rax` counting elements) and a constant of the table whose
//! address is in `rsi` (`[rsi + disp32]`). Base registers never include `rbp` or `r13`,
//! whose low bits would mean "no base" in that addressing form.

/// A general-purpose register by its hardware number (`rax` 0 .. `r15` 15).
pub type Gpr = u8;
/// A ymm register by number (0..16).
pub type Ymm = u8;

pub const RCX: Gpr = 1;
pub const RBX: Gpr = 3;
pub const RSI: Gpr = 6;
pub const RDI: Gpr = 7;
pub const R8: Gpr = 8;
pub const R9: Gpr = 9;
pub const R10: Gpr = 10;
pub const R11: Gpr = 11;
pub const R12: Gpr = 12;
pub const R14: Gpr = 14;
pub const R15: Gpr = 15;

/// A second operand that may be in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rm {
    Reg(Ymm),
    /// `[base + rax * elem]`: the array whose address is in `base`, at the loop index.
    At(Gpr),
    /// `[rsi + 32 * k]`: entry `k` of the constant table, one vector wide.
    Const(u32),
}

/// Opcode maps of the VEX prefix.
#[derive(Clone, Copy)]
pub enum Map {
    M0f = 1,
    M0f38 = 2,
    M0f3a = 3,
}

/// Machine code being written.
pub struct Asm {
    pub code: Vec<u8>,
    /// Bytes per element (4 for f32, 8 for f64): the scale of `Rm::At`.
    elem: u8,
}

impl Asm {
    pub fn new(elem: u8) -> Asm {
        assert!(elem == 4 || elem == 8, "f32 or f64 elements");
        Asm { code: Vec::with_capacity(1024), elem }
    }

    /// A VEX-encoded instruction: `opcode` in `map` with prefix `pp` (0 none, 1 `66`),
    /// 256 bits wide, `reg` in ModRM.reg, `vvvv` the extra source (None: unused), `rm`
    /// in ModRM.rm; then `imm`, if any.
    pub fn vex(&mut self, map: Map, pp: u8, opcode: u8, reg: u8, vvvv: Option<Ymm>, rm: Rm, imm: Option<u8>) {
        let b = match rm {
            Rm::Reg(r) => r >> 3,
            Rm::At(g) => g >> 3,
            Rm::Const(_) => 0,
        };
        let r = reg >> 3;
        // Three-byte form throughout: R, X, B inverted; W0; L1 (256 bits).
        self.code.push(0xC4);
        self.code.push(((r ^ 1) << 7) | (1 << 6) | ((b ^ 1) << 5) | map as u8);
        self.code.push(((!vvvv.unwrap_or(0) & 0xF) << 3) | (1 << 2) | pp);
        self.code.push(opcode);
        self.modrm(reg, rm);
        if let Some(i) = imm {
            self.code.push(i);
        }
    }

    fn modrm(&mut self, reg: u8, rm: Rm) {
        let reg = (reg & 7) << 3;
        match rm {
            Rm::Reg(r) => self.code.push(0xC0 | reg | (r & 7)),
            Rm::At(base) => {
                debug_assert!(base & 7 != 5, "no rbp or r13 as a SIB base");
                let scale = if self.elem == 4 { 2 } else { 3 };
                // mod 00, rm 100: a SIB byte follows; index rax (000).
                self.code.push(reg | 0b100);
                self.code.push((scale << 6) | (base & 7));
            }
            Rm::Const(k) => {
                // mod 10, rm rsi: disp32.
                self.code.push(0x80 | reg | (RSI & 7));
                self.code.extend_from_slice(&(k * 32).to_le_bytes());
            }
        }
    }

    /// `pp` for this element width: none for packed singles, `66` for doubles.
    fn pp(&self) -> u8 {
        (self.elem == 8) as u8
    }

    /// `dst = src1 op src2` for the packed arithmetic and logic opcodes of map 0F
    /// (`58` add, `59` mul, `5C` sub, `5E` div, `54` and, `56` or, `57` xor).
    pub fn op3(&mut self, opcode: u8, dst: Ymm, src1: Ymm, src2: Rm) {
        let pp = self.pp();
        self.vex(Map::M0f, pp, opcode, dst, Some(src1), src2, None);
    }

    /// `dst = sqrt(src)`.
    pub fn sqrt(&mut self, dst: Ymm, src: Rm) {
        let pp = self.pp();
        self.vex(Map::M0f, pp, 0x51, dst, None, src, None);
    }

    /// `dst = src1 <pred> src2`, all ones where true (`vcmpps`/`vcmppd`).
    pub fn cmp(&mut self, dst: Ymm, src1: Ymm, src2: Rm, pred: u8) {
        let pp = self.pp();
        self.vex(Map::M0f, pp, 0xC2, dst, Some(src1), src2, Some(pred));
    }

    /// `dst = round(src)` in mode `imm` (`vroundps`/`vroundpd`).
    pub fn round(&mut self, dst: Ymm, src: Rm, imm: u8) {
        let op = if self.elem == 4 { 0x08 } else { 0x09 };
        self.vex(Map::M0f3a, 1, op, dst, None, src, Some(imm));
    }

    /// `dst = mask ? src2 : src1`, lane by lane on the mask's sign bits (`vblendvps`).
    pub fn blendv(&mut self, dst: Ymm, src1: Ymm, src2: Rm, mask: Ymm) {
        let op = if self.elem == 4 { 0x4A } else { 0x4B };
        self.vex(Map::M0f3a, 1, op, dst, Some(src1), src2, Some(mask << 4));
    }

    /// `acc = a * b + acc` rounded once (`vfmadd231ps`; f32 only).
    pub fn fma231(&mut self, acc: Ymm, a: Ymm, b: Rm) {
        debug_assert_eq!(self.elem, 4);
        self.vex(Map::M0f38, 1, 0xB8, acc, Some(a), b, None);
    }

    /// `acc = a * acc + b` rounded once (`vfmadd213ps`; f32 only).
    pub fn fma213(&mut self, acc: Ymm, a: Ymm, b: Rm) {
        debug_assert_eq!(self.elem, 4);
        self.vex(Map::M0f38, 1, 0xA8, acc, Some(a), b, None);
    }

    /// 32-bit integer lanes: `dst = src1 op src2` (`FE` add, `FA` sub: `vpaddd`, `vpsubd`).
    pub fn int_op(&mut self, opcode: u8, dst: Ymm, src1: Ymm, src2: Rm) {
        self.vex(Map::M0f, 1, opcode, dst, Some(src1), src2, None);
    }

    /// 32-bit integer lanes shifted by `by`: `/4` arithmetic right (`vpsrad`), `/6` left
    /// (`vpslld`).
    pub fn int_shift(&mut self, ext: u8, dst: Ymm, src: Ymm, by: u8) {
        self.vex(Map::M0f, 1, 0x72, ext, Some(dst), Rm::Reg(src), Some(by));
    }

    /// `dst = [src]`, unaligned (`vmovups`/`vmovupd`).
    pub fn load(&mut self, dst: Ymm, src: Rm) {
        let pp = self.pp();
        self.vex(Map::M0f, pp, 0x10, dst, None, src, None);
    }

    /// `[base + rax*elem] = src`, unaligned.
    pub fn store(&mut self, base: Gpr, src: Ymm) {
        let pp = self.pp();
        self.vex(Map::M0f, pp, 0x11, src, None, Rm::At(base), None);
    }

    /// `[base + rax*elem] = src` around the cache (`vmovntps`/`vmovntpd`); the address
    /// must be 32-byte aligned.
    pub fn store_nt(&mut self, base: Gpr, src: Ymm) {
        let pp = self.pp();
        self.vex(Map::M0f, pp, 0x2B, src, None, Rm::At(base), None);
    }

    /// `sfence`: streamed stores are ordered before every later store.
    pub fn sfence(&mut self) {
        self.code.extend_from_slice(&[0x0F, 0xAE, 0xF8]);
    }

    /// `mov dst, [rdi + 8 * slot]`: a pointer from the argument table.
    pub fn load_ptr(&mut self, dst: Gpr, slot: u8) {
        self.code.extend_from_slice(&[0x48 | ((dst >> 3) << 2), 0x8B, 0x40 | ((dst & 7) << 3) | RDI, slot * 8]);
    }

    pub fn push(&mut self, r: Gpr) {
        if r >= 8 {
            self.code.push(0x41);
        }
        self.code.push(0x50 + (r & 7));
    }

    pub fn pop(&mut self, r: Gpr) {
        if r >= 8 {
            self.code.push(0x41);
        }
        self.code.push(0x58 + (r & 7));
    }

    /// `xor eax, eax`: the loop index starts at 0.
    pub fn zero_index(&mut self) {
        self.code.extend_from_slice(&[0x31, 0xC0]);
    }

    /// `test rdx, rdx; jz` to a label patched by [`Asm::patch`]; returns the patch site.
    pub fn skip_if_no_elements(&mut self) -> usize {
        self.code.extend_from_slice(&[0x48, 0x85, 0xD2, 0x0F, 0x84, 0, 0, 0, 0]);
        self.code.len()
    }

    /// `add rax, step; cmp rax, rdx; jb top`.
    pub fn loop_back(&mut self, step: u8, top: usize) {
        self.code.extend_from_slice(&[0x48, 0x83, 0xC0, step, 0x48, 0x39, 0xD0, 0x0F, 0x82]);
        let rel = top as i64 - (self.code.len() as i64 + 4);
        self.code.extend_from_slice(&(rel as i32).to_le_bytes());
    }

    /// Points the jump whose displacement ends at `site` to the current position.
    pub fn patch(&mut self, site: usize) {
        let rel = (self.code.len() - site) as i32;
        self.code[site - 4..site].copy_from_slice(&rel.to_le_bytes());
    }

    /// `vzeroupper; ret`.
    pub fn ret(&mut self) {
        self.code.extend_from_slice(&[0xC5, 0xF8, 0x77, 0xC3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(elem: u8, f: impl FnOnce(&mut Asm)) -> Vec<u8> {
        let mut a = Asm::new(elem);
        f(&mut a);
        a.code
    }

    // Expected bytes are the encodings GNU as gives for the same instructions.
    #[test]
    fn encodings() {
        // vmovups ymm0, [rdi + rax*4] (three-byte VEX form of c5 fc 10 04 87)
        assert_eq!(one(4, |a| a.load(0, Rm::At(RDI))), [0xC4, 0xE1, 0x7C, 0x10, 0x04, 0x87]);
        // vaddps ymm1, ymm1, ymm9
        assert_eq!(one(4, |a| a.op3(0x58, 1, 1, Rm::Reg(9))), [0xC4, 0xC1, 0x74, 0x58, 0xC9]);
        // vmulpd ymm10, ymm3, [rsi + 0x40]
        assert_eq!(
            one(8, |a| a.op3(0x59, 10, 3, Rm::Const(2))),
            [0xC4, 0x61, 0x65, 0x59, 0x96, 0x40, 0x00, 0x00, 0x00]
        );
        // vmovups [r12 + rax*4], ymm13
        assert_eq!(one(4, |a| a.store(R12, 13)), [0xC4, 0x41, 0x7C, 0x11, 0x2C, 0x84]);
        // vmovntps [r12 + rax*4], ymm13; vmovntpd [r12 + rax*8], ymm13; sfence
        assert_eq!(one(4, |a| a.store_nt(R12, 13)), [0xC4, 0x41, 0x7C, 0x2B, 0x2C, 0x84]);
        assert_eq!(one(8, |a| a.store_nt(R12, 13)), [0xC4, 0x41, 0x7D, 0x2B, 0x2C, 0xC4]);
        assert_eq!(one(4, |a| a.sfence()), [0x0F, 0xAE, 0xF8]);
        // vsqrtps ymm1, ymm1
        assert_eq!(one(4, |a| a.sqrt(1, Rm::Reg(1))), [0xC4, 0xE1, 0x7C, 0x51, 0xC9]);
        // vcmpps ymm14, ymm2, [rsi + 0x20], 0x1e
        assert_eq!(
            one(4, |a| a.cmp(14, 2, Rm::Const(1), 0x1E)),
            [0xC4, 0x61, 0x6C, 0xC2, 0xB6, 0x20, 0x00, 0x00, 0x00, 0x1E]
        );
        // vroundpd ymm0, ymm15, 9
        assert_eq!(one(8, |a| a.round(0, Rm::Reg(15), 9)), [0xC4, 0xC3, 0x7D, 0x09, 0xC7, 0x09]);
        // vblendvps ymm3, ymm4, ymm5, ymm14
        assert_eq!(one(4, |a| a.blendv(3, 4, Rm::Reg(5), 14)), [0xC4, 0xE3, 0x5D, 0x4A, 0xDD, 0xE0]);
        // mov r14, [rdi + 0x18]; mov rcx, [rdi]
        assert_eq!(one(4, |a| a.load_ptr(R14, 3)), [0x4C, 0x8B, 0x77, 0x18]);
        assert_eq!(one(4, |a| a.load_ptr(RCX, 0)), [0x48, 0x8B, 0x4F, 0x00]);
        assert_eq!(one(4, |a| a.push(R15)), [0x41, 0x57]);
        // vfmadd231ps ymm2, ymm3, ymm12; vfmadd213ps ymm1, ymm0, [rsi + 0x60]
        assert_eq!(one(4, |a| a.fma231(2, 3, Rm::Reg(12))), [0xC4, 0xC2, 0x65, 0xB8, 0xD4]);
        assert_eq!(one(4, |a| a.fma213(1, 0, Rm::Const(3))), [0xC4, 0xE2, 0x7D, 0xA8, 0x8E, 0x60, 0x00, 0x00, 0x00]);
        // vpsubd ymm9, ymm1, [rsi]; vpsrad ymm4, ymm10, 1; vpslld ymm11, ymm11, 23
        assert_eq!(one(4, |a| a.int_op(0xFA, 9, 1, Rm::Const(0))), [0xC4, 0x61, 0x75, 0xFA, 0x8E, 0, 0, 0, 0]);
        assert_eq!(one(4, |a| a.int_shift(4, 4, 10, 1)), [0xC4, 0xC1, 0x5D, 0x72, 0xE2, 0x01]);
        assert_eq!(one(4, |a| a.int_shift(6, 11, 11, 23)), [0xC4, 0xC1, 0x25, 0x72, 0xF3, 0x17]);
        assert_eq!(one(4, |a| a.pop(RBX)), [0x5B]);
    }
}
