//! Lowering a run of steps to one AVX2 loop: register allocation and, per step, the
//! instructions that compute exactly what its eager kernel computes (see `unary.rs` and
//! `binary.rs`: each step here mirrors its kernel's expression operation for operation).

use super::x86::{Asm, Gpr, Rm, Ymm, R10, R11, R12, R14, R15, R8, R9, RBX, RCX};
use super::JitFloat;
use crate::fused::{FloatStep, Operand};
use psionic_core::ops::{BinaryOp, UnaryOp};

/// Registers for pointers: caller-saved first; `rbx`, `r12`, `r14`, `r15` are saved
/// and restored. (`rax` is the index, `rdx` the count, `rsi` the constant table, `rdi`
/// the pointer table; `rbp` and `r13` cannot be bases of the index form.)
const POINTER_REGS: [Gpr; MAX_POINTERS] = [RCX, R8, R9, R10, R11, RBX, R12, R14, R15];

/// The most array inputs and outputs a run can have: one pointer register each.
pub const MAX_POINTERS: usize = 9;
const SAVED: [Gpr; 4] = [RBX, R12, R14, R15];

/// ymm registers for values; the last two are scratch within one step.
const VALUE_REGS: u8 = 14;
const S1: Ymm = 14;
const S2: Ymm = 15;

/// Comparison predicates of `vcmpps` (the signalling forms: exceptions are masked, so
/// only the true/false table matters).
const LT: u8 = 0x01;
const NLE: u8 = 0x06;
const GT: u8 = 0x0E;
const GE: u8 = 0x0D;

/// Rounding modes of `vroundps`, with the precision exception suppressed.
const NEAREST_EVEN: u8 = 0x08;
const FLOOR: u8 = 0x09;
const CEIL: u8 = 0x0A;
const TRUNC: u8 = 0x0B;

/// Opcodes of map 0F.
const ADD: u8 = 0x58;
const MUL: u8 = 0x59;
const SUB: u8 = 0x5C;
const DIV: u8 = 0x5E;
const AND: u8 = 0x54;
const OR: u8 = 0x56;
const XOR: u8 = 0x57;
const ANDN: u8 = 0x55;

/// Whether a step can be generated (its eager kernel is one of the expressions below)
/// in f32 (`single`) or f64: the transcendentals only in f32, where eager runs
/// `crate::vmath` (f64 kernels call libm).
pub fn supports(step: &FloatStep, single: bool) -> bool {
    use BinaryOp as B;
    use UnaryOp as U;
    if let FloatStep::Unary(U::Exp | U::Sigmoid | U::Silu | U::Tanh) = step {
        return single && fma();
    }
    match step {
        FloatStep::Unary(op) => matches!(
            op,
            U::Neg
                | U::Abs
                | U::Sign
                | U::Square
                | U::Sqrt
                | U::Rsqrt
                | U::Reciprocal
                | U::Relu
                | U::LeakyRelu(_)
                | U::Hardtanh { .. }
                | U::Clamp { .. }
                | U::Floor
                | U::Ceil
                | U::Round
                | U::Trunc
                | U::Frac
        ),
        FloatStep::Binary(op) => {
            matches!(op, B::Add | B::Sub | B::Mul | B::Div | B::DivTrunc | B::Copysign | B::ReluGrad)
        }
    }
}

/// Whether the CPU has fused multiply-add, which `vmath`'s polynomials use.
fn fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Generated code and its constant table (bits of each entry; the scalar inputs'
/// entries are placeholders filled per call).
pub struct Generated {
    pub code: Vec<u8>,
    pub table: Vec<u64>,
    pub scalar_slot: Vec<Option<u32>>,
}

struct Gen<'a, F> {
    asm: Asm,
    table: Vec<u64>,
    scalar_slot: Vec<Option<u32>>,
    /// Per input: its pointer register if it is an array.
    ptr: Vec<Option<Gpr>>,
    /// Per input and per step: the register holding its value now.
    in_reg: Vec<Option<Ymm>>,
    step_reg: Vec<Option<Ymm>>,
    /// Per input and per step: the last step reading it.
    in_last: Vec<usize>,
    step_last: Vec<Option<usize>>,
    in_uses: Vec<usize>,
    free: Vec<Ymm>,
    _f: std::marker::PhantomData<&'a F>,
}

/// Generates the loop for `steps` (see [`super::Program::compile`]); with `stream`, its
/// stores go around the cache (to 32-byte aligned outputs) and are fenced before it
/// returns.
pub fn generate<F: JitFloat>(
    scalar: &[bool],
    steps: &[(FloatStep, Vec<Operand>)],
    outs: &[usize],
    stream: bool,
) -> Option<Generated> {
    if steps.iter().any(|(s, _)| !supports(s, F::BYTES == 4)) {
        return None;
    }
    let n_arrays = scalar.iter().filter(|s| !**s).count();
    if n_arrays + outs.len() > POINTER_REGS.len() {
        return None;
    }
    let mut g = Gen::<F> {
        asm: Asm::new(F::BYTES),
        table: Vec::new(),
        scalar_slot: vec![None; scalar.len()],
        ptr: vec![None; scalar.len()],
        in_reg: vec![None; scalar.len()],
        step_reg: vec![None; steps.len()],
        in_last: vec![0; scalar.len()],
        step_last: vec![None; steps.len()],
        in_uses: vec![0; scalar.len()],
        free: (0..VALUE_REGS).rev().collect(),
        _f: std::marker::PhantomData,
    };
    for (k, (_, args)) in steps.iter().enumerate() {
        for a in args {
            match *a {
                Operand::Input(i) => {
                    g.in_last[i] = k;
                    g.in_uses[i] += 1;
                }
                Operand::Step(j) => g.step_last[j] = Some(k),
            }
        }
    }
    // Pointer registers: array inputs in order, then the outputs (the table's order).
    let mut regs = POINTER_REGS.iter().copied();
    for (i, &s) in scalar.iter().enumerate() {
        if s {
            // Each scalar has its own entry, never shared with a constant.
            g.table.push(0);
            g.scalar_slot[i] = Some(g.table.len() as u32 - 1);
        } else {
            g.ptr[i] = regs.next();
        }
    }
    let out_ptr: Vec<Gpr> = outs.iter().map(|_| regs.next().expect("counted above")).collect();
    for r in SAVED {
        g.asm.push(r);
    }
    for (slot, p) in g.ptr.iter().flatten().chain(&out_ptr).enumerate() {
        g.asm.load_ptr(*p, slot as u8);
    }
    g.asm.zero_index();
    let skip = g.asm.skip_if_no_elements();
    let top = g.asm.code.len();
    for (k, (step, args)) in steps.iter().enumerate() {
        let d = g.step(k, *step, args)?;
        g.step_reg[k] = Some(d);
        if let Some(o) = outs.iter().position(|&o| o == k) {
            if stream {
                g.asm.store_nt(out_ptr[o], d);
            } else {
                g.asm.store(out_ptr[o], d);
            }
        }
        if g.step_last[k].is_none() {
            g.free.push(d);
        }
    }
    g.asm.loop_back(32 / F::BYTES, top);
    g.asm.patch(skip);
    if stream {
        g.asm.sfence();
    }
    for r in SAVED.iter().rev() {
        g.asm.pop(*r);
    }
    g.asm.ret();
    Some(Generated { code: g.asm.code, table: g.table, scalar_slot: g.scalar_slot })
}

impl<F: JitFloat> Gen<'_, F> {
    /// The table entry holding `bits` in every lane (shared by equal constants).
    fn konst(&mut self, bits: u64) -> u32 {
        let at = self.table.iter().position(|&b| b == bits).filter(|&i| !self.scalar_slot.contains(&Some(i as u32)));
        at.unwrap_or_else(|| {
            self.table.push(bits);
            self.table.len() - 1
        }) as u32
    }

    fn value(&mut self, v: f64) -> Rm {
        // Converted as the eager kernels convert their parameters.
        let bits = <F as num_traits::NumCast>::from(v).unwrap_or_else(|| F::from_f64(v)).bits64();
        Rm::Const(self.konst(bits))
    }

    /// An operand where an instruction's last source may be in memory.
    fn rm(&mut self, a: Operand) -> Option<Rm> {
        Some(match a {
            Operand::Step(j) => Rm::Reg(self.step_reg[j].expect("an earlier step's value")),
            Operand::Input(i) => match (self.scalar_slot[i], self.in_reg[i], self.ptr[i]) {
                (Some(s), _, _) => Rm::Const(s),
                (None, Some(r), _) => Rm::Reg(r),
                // Read once: straight from memory.
                (None, None, Some(p)) if self.in_uses[i] == 1 => Rm::At(p),
                (None, None, Some(p)) => {
                    let r = self.free.pop()?;
                    self.asm.load(r, Rm::At(p));
                    self.in_reg[i] = Some(r);
                    Rm::Reg(r)
                }
                (None, None, None) => unreachable!("an array input has a pointer"),
            },
        })
    }

    /// Emits step `k` and returns the register holding its value. Operands whose last
    /// reader is this step give their registers back; the result may take one of them
    /// (every sequence below writes it last, or only after reading every operand).
    fn step(&mut self, k: usize, step: FloatStep, args: &[Operand]) -> Option<Ymm> {
        // Arrays read more than once are loaded into their registers here, first.
        let ops: Vec<Rm> = args.iter().map(|&a| self.rm(a)).collect::<Option<_>>()?;
        let mut dying: Vec<Ymm> = Vec::new();
        for (a, o) in args.iter().zip(&ops) {
            let last = match *a {
                Operand::Input(i) => self.in_last[i] == k,
                Operand::Step(j) => self.step_last[j] == Some(k),
            };
            if let (true, Rm::Reg(r)) = (last, *o) {
                if !dying.contains(&r) {
                    dying.push(r);
                }
            }
        }
        let d = match dying.first() {
            Some(&r) => r,
            None => self.free.pop()?,
        };
        self.free.extend(dying.iter().filter(|&&r| r != d));
        for a in args {
            if let Operand::Input(i) = *a {
                if self.in_last[i] == k {
                    self.in_reg[i] = None;
                }
            }
        }
        // A register form of operand `i`, through scratch `s` if it is in memory.
        let asm = &mut self.asm;
        let reg = |asm: &mut Asm, o: Rm, s: Ymm| match o {
            Rm::Reg(r) => r,
            m => {
                asm.load(s, m);
                s
            }
        };
        match step {
            FloatStep::Binary(op) => {
                let (x, y) = (ops[0], ops[1]);
                match op {
                    BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::DivTrunc => {
                        let code = match op {
                            BinaryOp::Add => ADD,
                            BinaryOp::Sub => SUB,
                            BinaryOp::Mul => MUL,
                            _ => DIV,
                        };
                        let a = reg(asm, x, S1);
                        asm.op3(code, d, a, y);
                        if op == BinaryOp::DivTrunc {
                            asm.round(d, Rm::Reg(d), TRUNC);
                        }
                    }
                    BinaryOp::Copysign => {
                        let (abs, sign) = (self.mask(false), self.mask(true));
                        let asm = &mut self.asm;
                        let a = reg(asm, x, S1);
                        asm.op3(AND, S1, a, abs);
                        let b = reg(asm, y, S2);
                        asm.op3(AND, S2, b, sign);
                        asm.op3(OR, d, S1, Rm::Reg(S2));
                    }
                    BinaryOp::ReluGrad => {
                        let zero = self.value(0.0);
                        let asm = &mut self.asm;
                        let b = reg(asm, y, S2);
                        asm.cmp(S2, b, zero, GT);
                        asm.op3(AND, d, S2, x);
                    }
                    other => unreachable!("{other:?} is not generated"),
                }
            }
            FloatStep::Unary(op) => {
                // An operand in memory is loaded into the result's register: every
                // sequence of `unary` is correct with its operand and result in one.
                let a = reg(asm, ops[0], d);
                self.unary(op, d, a)?;
            }
        }
        Some(d)
    }

    /// The sign bit alone (`sign`) or every bit but it, in every lane.
    fn mask(&mut self, sign: bool) -> Rm {
        let bit = if F::BYTES == 4 { 1u64 << 31 } else { 1u64 << 63 };
        let all = if F::BYTES == 4 { u32::MAX as u64 } else { u64::MAX };
        Rm::Const(self.konst(if sign { bit } else { all & !bit }))
    }

    /// `d = op(a)`, `a` in a register.
    fn unary(&mut self, op: UnaryOp, d: Ymm, a: Ymm) -> Option<()> {
        use UnaryOp::*;
        let x = Rm::Reg(a);
        match op {
            Neg => {
                let m = self.mask(true);
                self.asm.op3(XOR, d, a, m)
            }
            Abs => {
                let m = self.mask(false);
                self.asm.op3(AND, d, a, m)
            }
            Square => self.asm.op3(MUL, d, a, x),
            Sqrt => self.asm.sqrt(d, x),
            Rsqrt => {
                let one = self.value(1.0);
                self.asm.sqrt(S1, x);
                self.asm.load(S2, one);
                self.asm.op3(DIV, d, S2, Rm::Reg(S1));
            }
            Reciprocal => {
                let one = self.value(1.0);
                self.asm.load(S1, one);
                self.asm.op3(DIV, d, S1, x);
            }
            // `if v <= 0 { 0 } else { v }`: kept where not (v <= 0), NaN included.
            Relu => {
                let zero = self.value(0.0);
                self.asm.cmp(S1, a, zero, NLE);
                self.asm.op3(AND, d, S1, x);
            }
            // `if v > 0 { v } else { v * slope }`.
            LeakyRelu(slope) => {
                let (zero, s) = (self.value(0.0), self.value(slope));
                self.asm.op3(MUL, S1, a, s);
                self.asm.cmp(S2, a, zero, GT);
                self.asm.blendv(d, S1, x, S2);
            }
            // `if v < lo { lo } else if v > hi { hi } else { v }`.
            Hardtanh { min, max } => {
                let (lo, hi) = (self.value(min), self.value(max));
                self.asm.cmp(S1, a, hi, GT);
                self.asm.blendv(S2, a, hi, S1);
                self.asm.cmp(S1, a, lo, LT);
                self.asm.blendv(d, S2, lo, S1);
            }
            // `v = if v < lo { lo } else { v }; if v > hi { hi } else { v }`.
            Clamp { min, max } => {
                let lo = self.value(min.unwrap_or(f64::NEG_INFINITY));
                let hi = self.value(max.unwrap_or(f64::INFINITY));
                self.asm.cmp(S1, a, lo, LT);
                self.asm.blendv(S2, a, lo, S1);
                self.asm.cmp(S1, S2, hi, GT);
                self.asm.blendv(d, S2, hi, S1);
            }
            // `if v > 0 { 1 } else if v < 0 { -1 } else { 0 }`.
            Sign => {
                let (zero, one, minus) = (self.value(0.0), self.value(1.0), self.value(-1.0));
                self.asm.cmp(S1, a, zero, GT);
                self.asm.op3(AND, S1, S1, one);
                self.asm.cmp(S2, a, zero, LT);
                self.asm.op3(AND, S2, S2, minus);
                self.asm.op3(OR, d, S1, Rm::Reg(S2));
            }
            Floor => self.asm.round(d, x, FLOOR),
            Ceil => self.asm.round(d, x, CEIL),
            Round => self.asm.round(d, x, NEAREST_EVEN),
            Trunc => self.asm.round(d, x, TRUNC),
            // `v - v.trunc()`.
            Frac => {
                self.asm.round(S1, x, TRUNC);
                self.asm.op3(SUB, d, a, Rm::Reg(S1));
            }
            Exp => self.exp(d, a)?,
            // sigmoid `1 / (1 + exp(-v))`, silu `v / (1 + exp(-v))`.
            Sigmoid | Silu => {
                let (sign, one) = (self.mask(true), self.value(1.0));
                let t = self.free.pop()?;
                self.asm.op3(XOR, t, a, sign);
                self.exp(t, t)?;
                self.asm.op3(ADD, t, t, one);
                let numerator = if matches!(op, Sigmoid) {
                    self.asm.load(S1, one);
                    S1
                } else {
                    a
                };
                self.asm.op3(DIV, d, numerator, Rm::Reg(t));
                self.free.push(t);
            }
            Tanh => self.tanh(d, a)?,
            other => unreachable!("{other:?} is not generated"),
        }
        Some(())
    }

    fn f32(&mut self, v: f32) -> Rm {
        Rm::Const(self.konst(v.to_bits() as u64))
    }

    fn int(&mut self, v: i32) -> Rm {
        Rm::Const(self.konst(v as u32 as u64))
    }

    /// `d = vmath::exp(x)`, operation for operation; `d` may be `x`. Uses both scratch
    /// registers and four from the pool.
    fn exp(&mut self, d: Ymm, x: Ymm) -> Option<()> {
        use crate::vmath::{EXP_TAYLOR, LN2_HI, LN2_LO, ROUND};
        let (lo, hi, zero) = (self.f32(-104.0), self.f32(88.8), self.f32(0.0));
        let (log2e, round, round_bits) =
            (self.f32(std::f32::consts::LOG2_E), self.f32(ROUND), self.int(ROUND.to_bits() as i32));
        let (c1, c2, bias) = (self.f32(-LN2_HI), self.f32(-LN2_LO), self.int(127));
        let c: Vec<Rm> = EXP_TAYLOR.iter().map(|&c| self.f32(c)).collect();
        let (t, n) = (self.free.pop()?, self.free.pop()?);
        let (t2, q) = (self.free.pop()?, self.free.pop()?);
        let (under, r) = (S1, S2);
        let a = &mut self.asm;
        // under = x < -104; x = under ? 0 : (x > 88.8 ? 88.8 : x), into r
        a.cmp(under, x, lo, LT);
        a.cmp(r, x, hi, GT);
        a.blendv(r, x, hi, r);
        a.blendv(r, r, zero, under);
        // t = x * log2(e) + ROUND (one rounding); n = bits(t) - bits(ROUND); nf = t - ROUND
        a.load(t, round);
        a.fma231(t, r, log2e);
        a.int_op(0xFA, n, t, round_bits);
        a.op3(SUB, t, t, round);
        // r = x - nf * LN2_HI - nf * LN2_LO, each a fused multiply-add
        a.fma231(r, t, c1);
        a.fma231(r, t, c2);
        // t = exp_poly(EXP_TAYLOR, r): t2 = r², q = q67 then q47 then Q, t = q45 then q23,
        // q = c1 + r Q, t = c0 + r q
        a.op3(MUL, t2, r, Rm::Reg(r));
        a.load(q, c[6]);
        a.fma231(q, r, c[7]);
        a.load(t, c[4]);
        a.fma231(t, r, c[5]);
        a.fma213(q, t2, Rm::Reg(t));
        a.load(t, c[2]);
        a.fma231(t, r, c[3]);
        a.fma213(q, t2, Rm::Reg(t));
        a.fma213(q, r, c[1]);
        a.load(t, c[0]);
        a.fma231(t, r, Rm::Reg(q));
        // s1 = (n >> 1) + 127 << 23, s2 = (n - (n >> 1)) + 127 << 23, into q and n
        a.int_shift(4, q, n, 1);
        a.int_op(0xFA, n, n, Rm::Reg(q));
        a.int_op(0xFE, n, n, bias);
        a.int_shift(6, n, n, 23);
        a.int_op(0xFE, q, q, bias);
        a.int_shift(6, q, q, 23);
        a.op3(MUL, t, t, Rm::Reg(q));
        a.op3(MUL, t, t, Rm::Reg(n));
        // under ? 0 : t * s1 * s2 (t the polynomial)
        a.op3(ANDN, d, under, Rm::Reg(t));
        self.free.extend([q, t2, n, t]);
        Some(())
    }

    /// `d = vmath::tanh(x)`, operation for operation; `d` may be `x`.
    fn tanh(&mut self, d: Ymm, x: Ymm) -> Option<()> {
        use crate::vmath::TANH_CHEB;
        let (abs, sign) = (self.mask(false), self.mask(true));
        let (scale, one, zero) = (self.f32(2.0 / 0.3025), self.f32(1.0), self.f32(0.0));
        let (minus_two, edge) = (self.f32(-2.0), self.f32(0.55));
        let cheb: Vec<Rm> = TANH_CHEB.iter().map(|&c| self.f32(c)).collect();
        let (ax, u, u2) = (self.free.pop()?, self.free.pop()?, self.free.pop()?);
        let (mut b1, mut b2, mut t) = (self.free.pop()?, self.free.pop()?, self.free.pop()?);
        let a = &mut self.asm;
        a.op3(AND, ax, x, abs);
        // small = x * chebyshev(TANH_CHEB, (x * x) * (2 / 0.3025) - 1), Clenshaw's
        // recurrence from b1 = b2 = +0.
        a.op3(MUL, u, x, Rm::Reg(x));
        a.op3(MUL, u, u, scale);
        a.op3(SUB, u, u, one);
        a.op3(ADD, u2, u, Rm::Reg(u));
        a.op3(XOR, b1, b1, Rm::Reg(b1));
        a.op3(XOR, b2, b2, Rm::Reg(b2));
        for c in cheb[1..].iter().rev() {
            // b0 = u2 * b1 + (c - b2); then b2 = b1, b1 = b0 (registers renamed).
            a.load(t, *c);
            a.op3(SUB, t, t, Rm::Reg(b2));
            a.fma231(t, u2, Rm::Reg(b1));
            (b2, b1, t) = (b1, t, b2);
        }
        let small = t;
        a.load(small, cheb[0]);
        a.op3(SUB, small, small, Rm::Reg(b2));
        a.fma231(small, u, Rm::Reg(b1));
        a.op3(MUL, small, x, Rm::Reg(small));
        self.free.extend([u, u2, b1, b2]);
        // e = exp(-2 * |x|); big = (1 - e) / (1 + e), negated where x < 0
        let e = self.free.pop()?;
        self.asm.op3(MUL, e, ax, minus_two);
        self.exp(e, e)?;
        let big = self.free.pop()?;
        let a = &mut self.asm;
        a.load(big, one);
        a.op3(SUB, big, big, Rm::Reg(e));
        a.op3(ADD, e, e, one);
        a.op3(DIV, big, big, Rm::Reg(e));
        a.op3(XOR, e, big, sign);
        a.cmp(S1, x, zero, LT);
        a.blendv(big, big, Rm::Reg(e), S1);
        // |x| < 0.55 ? small : |x| >= 0.55 ? big : x (NaN)
        a.cmp(S1, ax, edge, LT);
        a.cmp(S2, ax, edge, GE);
        a.blendv(e, x, Rm::Reg(big), S2);
        a.blendv(d, e, Rm::Reg(small), S1);
        self.free.extend([ax, small, e, big]);
        Some(())
    }
}
