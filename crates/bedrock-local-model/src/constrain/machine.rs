//! The byte-level pushdown machine of a [`Grammar`]: a set of alternative stacks of frames,
//! advanced one byte at a time, and the fewest bytes that still complete a document.
//!
//! Each stack is one reading of the bytes so far (`anyOf` forks stacks; readings that a byte
//! rules out are dropped). Frames are `Copy`, so copying a state is a copy of a few small
//! vectors: the token walk in [`super::vocab`] copies states once per trie node.

use super::schema::{Grammar, Node, NodeId, NumSpec, ObjSpec, FAR, ITEM_SEP, KEY_SEP, MAX_EXTRA};

/// Inside a JSON string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StrLex {
    /// Characters so far (counted only when the string has length limits, and only up to
    /// where they still matter).
    chars: u32,
    /// 0: none, 1: after `\`, 2..=5: reading hex digit `esc - 2` of `\uXXXX`.
    esc: u8,
    /// The first hex digit was `D`: the escape must not be a surrogate (`D800`–`DFFF`).
    surrogate: bool,
    /// UTF-8 continuation bytes still expected, and the range of the next one.
    need: u8,
    lo: u8,
    hi: u8,
}

#[derive(Debug, PartialEq, Eq)]
enum StrStep {
    Open,
    Closed,
    Reject,
}

impl StrLex {
    /// `limits`: (minLength, maxLength) when the string has any; `escapes`: whether `\` may
    /// appear.
    fn step(&mut self, b: u8, limits: Option<(u32, Option<u32>)>, escapes: bool) -> StrStep {
        if self.need > 0 {
            if b < self.lo || b > self.hi {
                return StrStep::Reject;
            }
            self.need -= 1;
            self.lo = 0x80;
            self.hi = 0xbf;
            return StrStep::Open;
        }
        match self.esc {
            1 => {
                match b {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.esc = 0,
                    b'u' => self.esc = 2,
                    _ => return StrStep::Reject,
                }
                return StrStep::Open;
            }
            2..=5 => {
                if !b.is_ascii_hexdigit() {
                    return StrStep::Reject;
                }
                match self.esc {
                    2 => self.surrogate = b == b'd' || b == b'D',
                    3 if self.surrogate && !(b'0'..=b'7').contains(&b) => return StrStep::Reject,
                    _ => {}
                }
                self.esc = if self.esc == 5 { 0 } else { self.esc + 1 };
                return StrStep::Open;
            }
            _ => {}
        }
        let (need, lo, hi) = match b {
            b'"' => {
                if let Some((min, _)) = limits {
                    if self.chars < min {
                        return StrStep::Reject;
                    }
                }
                return StrStep::Closed;
            }
            b'\\' if escapes => (0, 0, 0),
            b'\\' | 0..=0x1f => return StrStep::Reject,
            0x20..=0x7f => (0, 0, 0),
            0xc2..=0xdf => (1, 0x80, 0xbf),
            0xe0 => (2, 0xa0, 0xbf),
            0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
            0xed => (2, 0x80, 0x9f),
            0xf0 => (3, 0x90, 0xbf),
            0xf1..=0xf3 => (3, 0x80, 0xbf),
            0xf4 => (3, 0x80, 0x8f),
            _ => return StrStep::Reject,
        };
        if let Some((min, max)) = limits {
            match max {
                Some(m) if self.chars >= m => return StrStep::Reject,
                Some(_) => self.chars += 1,
                // Without a maximum, counting past the minimum changes nothing.
                None => self.chars = (self.chars + 1).min(min),
            }
        }
        if b == b'\\' {
            self.esc = 1;
        }
        self.need = need;
        self.lo = lo;
        self.hi = hi;
        StrStep::Open
    }

    /// Bytes to close the string.
    fn dist(&self, min: u32) -> u32 {
        let esc = match self.esc {
            0 => 0,
            1 => 1,
            e => 6 - u32::from(e),
        };
        u32::from(self.need) + esc + min.saturating_sub(self.chars) + 1
    }

    /// Between characters, with nothing pending.
    fn at_char_boundary(&self) -> bool {
        self.esc == 0 && self.need == 0
    }
}

const MINUS: u8 = 1;
const ZERO: u8 = 2;
const INT: u8 = 3;
const DOT: u8 = 4;
const FRAC: u8 = 5;
const EXP: u8 = 6;
const EXP_SIGN: u8 = 7;
const EXP_DIGIT: u8 = 8;

/// Inside a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NumLex {
    phase: u8,
    neg: bool,
    /// The digits so far (integer and fraction), as an integer.
    mant: u64,
    int_digits: u8,
    frac_digits: u8,
    exp_digits: u8,
}

fn max_digits(spec: &NumSpec) -> u8 {
    if spec.bounded() {
        15
    } else {
        17
    }
}

impl NumLex {
    fn start(b: u8, spec: &NumSpec) -> Option<NumLex> {
        let mut n = NumLex {
            phase: 0,
            neg: false,
            mant: 0,
            int_digits: 0,
            frac_digits: 0,
            exp_digits: 0,
        };
        n.first_digit(b)
            .or_else(|| {
                (b == b'-').then(|| {
                    n.neg = true;
                    n.phase = MINUS;
                    n
                })
            })
            .filter(|n| n.feasible(spec))
    }

    fn first_digit(mut self, b: u8) -> Option<NumLex> {
        match b {
            b'0' => {
                self.phase = ZERO;
                self.int_digits = 1;
            }
            b'1'..=b'9' => {
                self.phase = INT;
                self.int_digits = 1;
                self.mant = u64::from(b - b'0');
            }
            _ => return None,
        }
        Some(self)
    }

    fn step(&self, b: u8, spec: &NumSpec) -> Option<NumLex> {
        let mut n = *self;
        let cap = max_digits(spec);
        let digit = b.is_ascii_digit();
        let exponent_ok = !spec.integer && !spec.bounded();
        match (self.phase, b) {
            (MINUS, _) => return n.first_digit(b).filter(|n| n.feasible(spec)),
            (INT, _) if digit && self.int_digits < cap => {
                n.mant = self.mant * 10 + u64::from(b - b'0');
                n.int_digits += 1;
            }
            (ZERO | INT, b'.') if !spec.integer && self.int_digits < cap => n.phase = DOT,
            (DOT | FRAC, _) if digit && self.int_digits + self.frac_digits < cap => {
                n.mant = self.mant * 10 + u64::from(b - b'0');
                n.frac_digits += 1;
                n.phase = FRAC;
            }
            (ZERO | INT | FRAC, b'e' | b'E') if exponent_ok => n.phase = EXP,
            (EXP, b'+' | b'-') => n.phase = EXP_SIGN,
            (EXP | EXP_SIGN, _) if digit => {
                n.phase = EXP_DIGIT;
                n.exp_digits = 1;
            }
            // Two exponent digits at most: serde_json refuses numbers beyond f64's range.
            (EXP_DIGIT, _) if digit && self.exp_digits < 2 => n.exp_digits += 1,
            _ => return None,
        }
        n.feasible(spec).then_some(n)
    }

    /// The value so far (fraction digits included).
    fn magnitude(&self) -> f64 {
        self.mant as f64 / 10f64.powi(i32::from(self.frac_digits))
    }

    fn complete(&self, spec: &NumSpec) -> bool {
        if !matches!(self.phase, ZERO | INT | FRAC | EXP_DIGIT) {
            return false;
        }
        if !spec.bounded() {
            return true;
        }
        let v = if self.neg {
            -self.magnitude()
        } else {
            self.magnitude()
        };
        Iv::point(v).meets(&Iv::bounds(spec))
    }

    /// Whether some completion can still fall within the bounds.
    fn feasible(&self, spec: &NumSpec) -> bool {
        if !spec.bounded() {
            return true;
        }
        let bounds = Iv::bounds(spec);
        let sign = |iv: Iv| if self.neg { iv.negate() } else { iv };
        let m = self.mant as f64;
        match self.phase {
            MINUS => sign(Iv::new(0.0, true, f64::INFINITY, false)).meets(&bounds),
            ZERO if spec.integer => sign(Iv::point(0.0)).meets(&bounds),
            ZERO => sign(Iv::new(0.0, true, 1.0, false)).meets(&bounds),
            INT => {
                let cap = max_digits(spec);
                (0..=cap.saturating_sub(self.int_digits)).any(|k| {
                    let p = 10f64.powi(i32::from(k));
                    let iv = if spec.integer {
                        Iv::new(m * p, true, (m + 1.0) * p - 1.0, true)
                    } else {
                        Iv::new(m * p, true, (m + 1.0) * p, false)
                    };
                    sign(iv).meets(&bounds)
                })
            }
            DOT => sign(Iv::new(m, true, m + 1.0, false)).meets(&bounds),
            FRAC => {
                let a = self.magnitude();
                let w = 10f64.powi(-i32::from(self.frac_digits));
                sign(Iv::new(a, true, a + w, false)).meets(&bounds)
            }
            _ => true,
        }
    }

    /// Bytes to a complete number: a depth-first search that takes the first byte (in a fixed
    /// order) from which a completion exists. Being a function of the state, following it
    /// lowers the count by one per byte, which is what the token budget needs.
    fn dist(&self, spec: &NumSpec) -> u32 {
        if !spec.bounded() {
            return u32::from(!matches!(self.phase, ZERO | INT | FRAC | EXP_DIGIT));
        }
        let mut steps = 20_000u32;
        num_dfs(Some(*self), spec, 0, &mut steps).unwrap_or(FAR)
    }
}

const NUM_BYTES: &[u8] = b"0123456789.-";

/// `state: None` is before the first byte.
fn num_dfs(state: Option<NumLex>, spec: &NumSpec, depth: u32, steps: &mut u32) -> Option<u32> {
    if let Some(s) = state {
        if s.complete(spec) {
            return Some(0);
        }
    }
    if depth > 40 || *steps == 0 {
        return None;
    }
    *steps -= 1;
    for &b in NUM_BYTES {
        let next = match state {
            None => NumLex::start(b, spec),
            Some(s) => s.step(b, spec),
        };
        if let Some(n) = next {
            if let Some(d) = num_dfs(Some(n), spec, depth + 1, steps) {
                return Some(d + 1);
            }
        }
    }
    None
}

/// The fewest bytes of a number of `spec` (as [`NumLex::dist`] counts them).
pub fn num_min_len(spec: &NumSpec) -> u32 {
    if !spec.bounded() {
        return 1;
    }
    let mut steps = 20_000u32;
    num_dfs(None, spec, 0, &mut steps).unwrap_or(FAR)
}

/// An interval of reals, each end open or closed.
#[derive(Debug, Clone, Copy)]
struct Iv {
    lo: f64,
    lo_in: bool,
    hi: f64,
    hi_in: bool,
}

impl Iv {
    fn new(lo: f64, lo_in: bool, hi: f64, hi_in: bool) -> Iv {
        Iv {
            lo,
            lo_in,
            hi,
            hi_in,
        }
    }

    fn point(v: f64) -> Iv {
        Iv::new(v, true, v, true)
    }

    fn bounds(spec: &NumSpec) -> Iv {
        let (lo, lo_in) = spec
            .lo
            .map_or((f64::NEG_INFINITY, false), |b| (b.value, !b.exclusive));
        let (hi, hi_in) = spec
            .hi
            .map_or((f64::INFINITY, false), |b| (b.value, !b.exclusive));
        Iv::new(lo, lo_in, hi, hi_in)
    }

    fn negate(self) -> Iv {
        Iv::new(-self.hi, self.hi_in, -self.lo, self.lo_in)
    }

    fn meets(&self, o: &Iv) -> bool {
        let (lo, lo_in) = if self.lo > o.lo {
            (self.lo, self.lo_in)
        } else if o.lo > self.lo {
            (o.lo, o.lo_in)
        } else {
            (self.lo, self.lo_in && o.lo_in)
        };
        let (hi, hi_in) = if self.hi < o.hi {
            (self.hi, self.hi_in)
        } else if o.hi < self.hi {
            (o.hi, o.hi_in)
        } else {
            (self.hi, self.hi_in && o.hi_in)
        };
        lo < hi || (lo == hi && lo_in && hi_in)
    }
}

/// Inside a literal of a set (enum, const, null, booleans): the items whose first `pos` bytes
/// were read are `lo..hi` of the sorted set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LitLex {
    pos: u16,
    lo: u16,
    hi: u16,
}

impl LitLex {
    fn step(&self, b: u8, items: &[Vec<u8>]) -> Option<LitLex> {
        let p = self.pos as usize;
        let mut lo = None;
        let mut hi = self.lo;
        for i in self.lo..self.hi {
            if items[i as usize].get(p) == Some(&b) {
                lo.get_or_insert(i);
                hi = i + 1;
            }
        }
        lo.map(|lo| LitLex {
            pos: self.pos + 1,
            lo,
            hi,
        })
    }

    fn complete(&self, items: &[Vec<u8>]) -> bool {
        items[self.lo as usize].len() == self.pos as usize
    }

    fn dist(&self, items: &[Vec<u8>]) -> u32 {
        (self.lo..self.hi)
            .map(|i| (items[i as usize].len() - self.pos as usize) as u32)
            .min()
            .unwrap_or(FAR)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArrPhase {
    Open,
    AfterItem,
    /// `p` bytes of the item separator read; `ITEM_SEP.len()`: an item must come.
    Sep(u8),
}

/// A key being read: which declared keys still match, and (when extra keys are allowed) the
/// key as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyLex {
    pos: u16,
    alive: u64,
    extra: bool,
    hash: u32,
    lex: StrLex,
}

/// `prop` of [`ObjPhase::Colon`] for an extra key.
const EXTRA: u16 = u16::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ObjPhase {
    Open,
    AfterValue,
    Sep(u8),
    Key(KeyLex),
    Colon { pos: u8, prop: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjFrame {
    node: NodeId,
    /// Declared properties before `next` are done (written or skipped).
    next: u16,
    phase: ObjPhase,
    n_extra: u8,
    extras: [u32; MAX_EXTRA],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Frame {
    /// A value of the node comes next.
    Value(NodeId),
    Lit(NodeId, LitLex),
    Str(NodeId, StrLex),
    /// Inside a patterned string: the pattern DFA's state.
    Pat(NodeId, u32),
    Num(NodeId, NumLex),
    Arr {
        node: NodeId,
        count: u32,
        phase: ArrPhase,
    },
    Obj(ObjFrame),
}

enum Step {
    Ok,
    Dead,
    Fork,
}

/// Where the machine is: every reading of the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct State {
    stacks: Vec<Vec<Frame>>,
}

impl State {
    pub fn new(g: &Grammar) -> State {
        State {
            stacks: vec![vec![Frame::Value(g.root)]],
        }
    }

    /// Whether no reading is left (the bytes so far are not a prefix of any document).
    pub fn is_dead(&self) -> bool {
        self.stacks.is_empty()
    }

    /// Reads one byte; `false` (and a dead state) if no reading accepts it.
    pub fn advance(&mut self, g: &Grammar, b: u8) -> bool {
        let mut i = 0;
        let mut forks = 0u32;
        while i < self.stacks.len() {
            match step(&mut self.stacks[i], g, b) {
                Step::Ok => i += 1,
                Step::Dead => {
                    self.stacks.swap_remove(i);
                }
                Step::Fork => {
                    forks += 1;
                    let alts = match self.stacks[i].last() {
                        Some(Frame::Value(u)) => match g.node(*u) {
                            Node::Union(alts) if forks < 256 => alts.as_slice(),
                            _ => &[],
                        },
                        _ => &[],
                    };
                    let Some((&first, rest)) = alts.split_first() else {
                        self.stacks.swap_remove(i);
                        continue;
                    };
                    for &a in rest {
                        let mut s = self.stacks[i].clone();
                        if let Some(top) = s.last_mut() {
                            *top = Frame::Value(a);
                        }
                        self.stacks.push(s);
                    }
                    if let Some(top) = self.stacks[i].last_mut() {
                        *top = Frame::Value(first);
                    }
                }
            }
        }
        if self.stacks.len() > 1 {
            self.stacks.sort_unstable();
            self.stacks.dedup();
        }
        !self.stacks.is_empty()
    }

    pub fn advance_bytes(&mut self, g: &Grammar, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.advance(g, b))
    }

    /// Whether the bytes so far are a whole document.
    pub fn can_end(&self, g: &Grammar) -> bool {
        self.stacks.iter().any(|s| match s.as_slice() {
            [] => true,
            [Frame::Lit(n, l)] => matches!(g.node(*n), Node::Lit(items) if l.complete(items)),
            [Frame::Num(n, x)] => matches!(g.node(*n), Node::Num(spec) if x.complete(spec)),
            _ => false,
        })
    }

    /// Whether the document is complete and nothing may follow.
    pub fn is_done(&self, g: &Grammar) -> bool {
        if self.stacks.is_empty() {
            return false;
        }
        if self.stacks.iter().all(Vec::is_empty) {
            return true;
        }
        let mut t = State::default();
        self.can_end(g)
            && (0..=255u8).all(|b| {
                t.clone_from(self);
                !t.advance(g, b)
            })
    }

    /// The fewest bytes that complete a document (an upper bound for bounded numbers, which
    /// still falls by one with the right next byte).
    pub fn dist(&self, g: &Grammar) -> u32 {
        self.stacks
            .iter()
            .map(|s| {
                s.iter()
                    .fold(0u32, |acc, f| acc.saturating_add(frame_dist(f, g)))
                    .min(FAR)
            })
            .min()
            .unwrap_or(FAR)
    }

    /// The only reading is inside a string between characters, with room for `room` more
    /// characters (or inside an undeclared key): every token of plain string bytes (at most
    /// `room` characters) keeps it there, whatever the token (see `TokenIndex::plain`).
    pub fn in_free_string(&self, g: &Grammar, room: u32) -> bool {
        let [s] = self.stacks.as_slice() else {
            return false;
        };
        match s.last() {
            Some(Frame::Str(n, lex)) => {
                lex.at_char_boundary()
                    && match g.node(*n) {
                        Node::Str { max: None, .. } => true,
                        Node::Str { max: Some(m), .. } => m.saturating_sub(lex.chars) >= room,
                        _ => false,
                    }
            }
            Some(Frame::Obj(ObjFrame {
                phase: ObjPhase::Key(k),
                ..
            })) => k.alive == 0 && k.extra && k.lex.at_char_boundary(),
            _ => false,
        }
    }

    /// The bytes every continuation starts with, up to `limit` (e.g. `", "arguments": ` in a
    /// tool call), so that they can be read without sampling.
    pub fn forced_bytes(&self, g: &Grammar, limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = self.clone();
        let (mut t, mut next) = (State::default(), State::default());
        while out.len() < limit && !s.can_end(g) {
            let mut only = None;
            for b in 0..=255u8 {
                t.clone_from(&s);
                if t.advance(g, b) {
                    if only.is_some() {
                        return out;
                    }
                    only = Some(b);
                    std::mem::swap(&mut t, &mut next);
                }
            }
            match only {
                Some(b) => {
                    out.push(b);
                    std::mem::swap(&mut s, &mut next);
                }
                None => break,
            }
        }
        out
    }
}

fn str_limits(g: &Grammar, n: NodeId) -> Option<(u32, Option<u32>)> {
    match g.node(n) {
        Node::Str { min, max } if *min > 0 || max.is_some() => Some((*min, *max)),
        _ => None,
    }
}

fn obj_spec(g: &Grammar, n: NodeId) -> Option<&ObjSpec> {
    match g.node(n) {
        Node::Obj(o) => Some(o),
        _ => None,
    }
}

/// Reads byte `b` on one stack.
fn step(stack: &mut Vec<Frame>, g: &Grammar, b: u8) -> Step {
    // Each round either consumes `b` or pops a finished frame, so the stack bounds the rounds.
    for _ in 0..=stack.len() + 1 {
        let Some(top) = stack.last_mut() else {
            return Step::Dead;
        };
        match top {
            Frame::Value(n) => {
                let n = *n;
                *top = match g.node(n) {
                    Node::Union(_) => return Step::Fork,
                    Node::Lit(items) => {
                        let l = LitLex {
                            pos: 0,
                            lo: 0,
                            hi: items.len() as u16,
                        };
                        match l.step(b, items) {
                            Some(l) => Frame::Lit(n, l),
                            None => return Step::Dead,
                        }
                    }
                    Node::Str { .. } if b == b'"' => Frame::Str(n, StrLex::default()),
                    Node::Pat(p) if b == b'"' => Frame::Pat(n, p.start()),
                    Node::Num(spec) => match NumLex::start(b, spec) {
                        Some(x) => Frame::Num(n, x),
                        None => return Step::Dead,
                    },
                    Node::Arr { .. } if b == b'[' => Frame::Arr {
                        node: n,
                        count: 0,
                        phase: ArrPhase::Open,
                    },
                    Node::Obj(_) if b == b'{' => Frame::Obj(ObjFrame {
                        node: n,
                        next: 0,
                        phase: ObjPhase::Open,
                        n_extra: 0,
                        extras: [0; MAX_EXTRA],
                    }),
                    _ => return Step::Dead,
                };
                return Step::Ok;
            }
            Frame::Lit(n, l) => {
                let Node::Lit(items) = g.node(*n) else {
                    return Step::Dead;
                };
                if let Some(next) = l.step(b, items) {
                    *l = next;
                    return Step::Ok;
                }
                if !l.complete(items) {
                    return Step::Dead;
                }
                stack.pop();
            }
            Frame::Num(n, x) => {
                let Node::Num(spec) = g.node(*n) else {
                    return Step::Dead;
                };
                if let Some(next) = x.step(b, spec) {
                    *x = next;
                    return Step::Ok;
                }
                if !x.complete(spec) {
                    return Step::Dead;
                }
                stack.pop();
            }
            Frame::Str(n, lex) => {
                let limits = str_limits(g, *n);
                return match lex.step(b, limits, true) {
                    StrStep::Open => Step::Ok,
                    StrStep::Closed => {
                        stack.pop();
                        Step::Ok
                    }
                    StrStep::Reject => Step::Dead,
                };
            }
            Frame::Pat(n, s) => {
                let Node::Pat(p) = g.node(*n) else {
                    return Step::Dead;
                };
                if b == b'"' && p.can_close(*s) {
                    stack.pop();
                    return Step::Ok;
                }
                return match p.step(*s, b) {
                    Some(next) => {
                        *s = next;
                        Step::Ok
                    }
                    None => Step::Dead,
                };
            }
            Frame::Arr { node, count, phase } => {
                let Node::Arr { items, min, max } = g.node(*node) else {
                    return Step::Dead;
                };
                let more = max.is_none_or(|m| *count < m);
                match *phase {
                    ArrPhase::Open if b == b']' && *min == 0 => {
                        stack.pop();
                        return Step::Ok;
                    }
                    ArrPhase::Open if more => {
                        *count += 1;
                        *phase = ArrPhase::AfterItem;
                        stack.push(Frame::Value(*items));
                    }
                    ArrPhase::AfterItem if b == b']' && *count >= *min => {
                        stack.pop();
                        return Step::Ok;
                    }
                    ArrPhase::AfterItem if b == ITEM_SEP[0] && more => {
                        *phase = ArrPhase::Sep(1);
                        return Step::Ok;
                    }
                    ArrPhase::Sep(p) if (p as usize) < ITEM_SEP.len() => {
                        if b != ITEM_SEP[p as usize] {
                            return Step::Dead;
                        }
                        *phase = ArrPhase::Sep(p + 1);
                        return Step::Ok;
                    }
                    ArrPhase::Sep(_) => {
                        *count += 1;
                        *phase = ArrPhase::AfterItem;
                        stack.push(Frame::Value(*items));
                    }
                    _ => return Step::Dead,
                }
            }
            Frame::Obj(o) => {
                let Some(spec) = obj_spec(g, o.node) else {
                    return Step::Dead;
                };
                let next = o.next as usize;
                match o.phase {
                    ObjPhase::Open | ObjPhase::AfterValue
                        if b == b'}' && spec.req_count_from[next] == 0 =>
                    {
                        stack.pop();
                        return Step::Ok;
                    }
                    ObjPhase::AfterValue if b == ITEM_SEP[0] && more_keys(spec, o) => {
                        o.phase = ObjPhase::Sep(1);
                    }
                    ObjPhase::Sep(p) if (p as usize) < ITEM_SEP.len() => {
                        if b != ITEM_SEP[p as usize] {
                            return Step::Dead;
                        }
                        o.phase = ObjPhase::Sep(p + 1);
                    }
                    ObjPhase::Open | ObjPhase::Sep(_) if b == b'"' => {
                        let mut alive = 0u64;
                        for j in spec.candidates(next) {
                            alive |= 1 << j;
                        }
                        let extra = spec.extra_allowed(next) && (o.n_extra as usize) < MAX_EXTRA;
                        if alive == 0 && !extra {
                            return Step::Dead;
                        }
                        o.phase = ObjPhase::Key(KeyLex {
                            pos: 1,
                            alive,
                            extra,
                            hash: super::schema::key_hash(&[]),
                            lex: StrLex::default(),
                        });
                    }
                    ObjPhase::Key(k) => return key_step(o, k, spec, b),
                    ObjPhase::Colon { pos, prop } => {
                        if b != KEY_SEP[pos as usize] {
                            return Step::Dead;
                        }
                        if (pos as usize) + 1 < KEY_SEP.len() {
                            o.phase = ObjPhase::Colon { pos: pos + 1, prop };
                        } else {
                            let (value, next) = if prop == EXTRA {
                                match spec.extra {
                                    Some(v) => (v, spec.props.len() as u16),
                                    None => return Step::Dead,
                                }
                            } else {
                                (spec.props[prop as usize].value, prop + 1)
                            };
                            o.next = next;
                            o.phase = ObjPhase::AfterValue;
                            stack.push(Frame::Value(value));
                        }
                    }
                    _ => return Step::Dead,
                }
                return Step::Ok;
            }
        }
    }
    Step::Dead
}

fn more_keys(spec: &ObjSpec, o: &ObjFrame) -> bool {
    let next = o.next as usize;
    !spec.candidates(next).is_empty()
        || (spec.extra_allowed(next) && (o.n_extra as usize) < MAX_EXTRA)
}

fn key_step(o: &mut ObjFrame, k: KeyLex, spec: &ObjSpec, b: u8) -> Step {
    let pos = k.pos as usize;
    let mut alive = 0u64;
    let mut matched = None;
    let mut bits = k.alive;
    while bits != 0 {
        let j = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let key = &spec.props[j].key;
        if key.get(pos) == Some(&b) {
            if key.len() == pos + 1 {
                matched = Some(j);
            } else {
                alive |= 1 << j;
            }
        }
    }
    if let Some(j) = matched {
        o.phase = ObjPhase::Colon {
            pos: 0,
            prop: j as u16,
        };
        return Step::Ok;
    }
    let mut extra = k.extra;
    let mut lex = k.lex;
    let mut hash = k.hash;
    if extra {
        match lex.step(b, None, false) {
            StrStep::Open => hash = (hash ^ u32::from(b)).wrapping_mul(0x0100_0193),
            StrStep::Closed => {
                let n = o.n_extra as usize;
                if spec.declared_hashes.contains(&hash) || o.extras[..n].contains(&hash) {
                    extra = false;
                } else {
                    o.extras[n] = hash;
                    o.n_extra += 1;
                    o.phase = ObjPhase::Colon {
                        pos: 0,
                        prop: EXTRA,
                    };
                    return Step::Ok;
                }
            }
            StrStep::Reject => extra = false,
        }
    }
    if alive == 0 && !extra {
        return Step::Dead;
    }
    o.phase = ObjPhase::Key(KeyLex {
        pos: k.pos + 1,
        alive,
        extra,
        hash,
        lex,
    });
    Step::Ok
}

/// Bytes to close an object after declared property `j` (or an extra one) was written.
fn obj_after(spec: &ObjSpec, next: usize) -> u32 {
    let r = spec.req_count_from[next];
    if r == 0 {
        1
    } else {
        (r * ITEM_SEP.len() as u32)
            .saturating_add(spec.req_cost_from[next])
            .saturating_add(1)
    }
}

fn frame_dist(f: &Frame, g: &Grammar) -> u32 {
    let is = ITEM_SEP.len() as u32;
    let ks = KEY_SEP.len() as u32;
    match f {
        Frame::Value(n) => g.min(*n),
        Frame::Lit(n, l) => match g.node(*n) {
            Node::Lit(items) => l.dist(items),
            _ => FAR,
        },
        Frame::Str(n, lex) => match g.node(*n) {
            Node::Str { min, .. } => lex.dist(*min),
            _ => FAR,
        },
        Frame::Pat(n, s) => match g.node(*n) {
            Node::Pat(p) => p.dist(*s).saturating_add(1),
            _ => FAR,
        },
        Frame::Num(n, x) => match g.node(*n) {
            Node::Num(spec) => x.dist(spec),
            _ => FAR,
        },
        Frame::Arr { node, count, phase } => {
            let Node::Arr { items, min, .. } = g.node(*node) else {
                return FAR;
            };
            let l = g.min(*items);
            let per = is.saturating_add(l);
            match phase {
                ArrPhase::Open if *min == 0 => 1,
                ArrPhase::Open => l
                    .saturating_add(per.saturating_mul(min - 1))
                    .saturating_add(1),
                ArrPhase::AfterItem => per
                    .saturating_mul(min.saturating_sub(*count))
                    .saturating_add(1),
                ArrPhase::Sep(p) => (is - u32::from(*p))
                    .saturating_add(l)
                    .saturating_add(per.saturating_mul(min.saturating_sub(count + 1)))
                    .saturating_add(1),
            }
        }
        Frame::Obj(o) => {
            let Some(spec) = obj_spec(g, o.node) else {
                return FAR;
            };
            let next = o.next as usize;
            let prop_cost = |j: usize| {
                let p = &spec.props[j];
                ks.saturating_add(g.min(p.value))
                    .saturating_add(obj_after(spec, j + 1))
            };
            let extra_cost = |key_bytes: u32| match spec.extra {
                Some(v) => key_bytes
                    .saturating_add(ks)
                    .saturating_add(g.min(v))
                    .saturating_add(1),
                None => FAR,
            };
            let need_key = || {
                let declared = spec
                    .candidates(next)
                    .map(|j| (spec.props[j].key.len() as u32).saturating_add(prop_cost(j)))
                    .min()
                    .unwrap_or(FAR);
                let extra = if spec.extra_allowed(next) && (o.n_extra as usize) < MAX_EXTRA {
                    let empty = super::schema::key_hash(&[]);
                    let taken = spec.declared_hashes.contains(&empty)
                        || o.extras[..o.n_extra as usize].contains(&empty);
                    extra_cost(2 + u32::from(taken))
                } else {
                    FAR
                };
                declared.min(extra)
            };
            match o.phase {
                ObjPhase::Open => {
                    let r = spec.req_count_from[next];
                    if r == 0 {
                        1
                    } else {
                        spec.req_cost_from[next]
                            .saturating_add((r - 1) * is)
                            .saturating_add(1)
                    }
                }
                ObjPhase::AfterValue => obj_after(spec, next),
                ObjPhase::Sep(p) => (is - u32::from(p)).saturating_add(need_key()),
                ObjPhase::Key(k) => {
                    let mut best = FAR;
                    let mut bits = k.alive;
                    while bits != 0 {
                        let j = bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        let rest = (spec.props[j].key.len() - k.pos as usize) as u32;
                        best = best.min(rest.saturating_add(prop_cost(j)));
                    }
                    if k.extra {
                        let taken = spec.declared_hashes.contains(&k.hash)
                            || o.extras[..o.n_extra as usize].contains(&k.hash);
                        let close = k.lex.dist(0) + u32::from(taken && k.lex.at_char_boundary());
                        best = best.min(extra_cost(close));
                    }
                    best
                }
                ObjPhase::Colon { pos, prop } => {
                    let rest = ks - u32::from(pos);
                    if prop == EXTRA {
                        match spec.extra {
                            Some(v) => rest.saturating_add(g.min(v)).saturating_add(1),
                            None => FAR,
                        }
                    } else {
                        let p = &spec.props[prop as usize];
                        rest.saturating_add(g.min(p.value))
                            .saturating_add(obj_after(spec, prop as usize + 1))
                    }
                }
            }
        }
    }
}
