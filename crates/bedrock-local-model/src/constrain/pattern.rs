//! A string `pattern` (and the common `format`s) as a byte DFA, for strings the model writes.
//!
//! JSON Schema's `pattern` is a search: the string must contain a match. It is compiled as
//! `(?s:.)*(?:PATTERN)(?s:.)*`, anchored, with every match kept (`MatchKind::All`), so a state is
//! accepting exactly when the string so far is in the language. Strings under a pattern are
//! written with printable ASCII only and no escapes (a subset of what the schema accepts: the
//! bytes are then the string's characters, one for one), in ASCII regex semantics (`\d`, `\w`
//! and `\s` as in ECMA-262 for such strings).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, Result};
use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::primitives::StateID;
use regex_automata::util::start;
use regex_automata::{nfa::thompson, util::syntax, Anchored, MatchKind};

use super::schema::FAR;

/// Bounds what one pattern may cost to compile and hold.
const DFA_SIZE_LIMIT: usize = 4 << 20;

macro_rules! date {
    // Calendar dates only (February up to the 28th): every one a real date in every year.
    () => {
        r"\d{4}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-8]))"
    };
}
macro_rules! time {
    () => {
        r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,9})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
    };
}
const URI: &str = r"^https://[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,3}\.[a-z]{2,8}(/[A-Za-z0-9._~-]{1,24}){0,4}$";

/// Patterns for the formats whose values a model writes most, used when a string has a
/// `format` and no `pattern` (with both, the `pattern` is followed; a `format` only annotates,
/// so meeting it loosens nothing). Each is a subset of its format: real calendar dates, plain
/// dot-atom emails, `https` URLs.
const FORMATS: [(&str, &str); 8] = [
    ("date-time", concat!("^", date!(), "T", time!(), "$")),
    ("date", concat!("^", date!(), "$")),
    ("time", concat!("^", time!(), "$")),
    (
        "uuid",
        r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
    ),
    // Dot-atoms with no empty part; domain labels that start and end alphanumeric.
    (
        "email",
        r"^[A-Za-z0-9_+-]{1,24}(\.[A-Za-z0-9_+-]{1,24}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,8}$",
    ),
    ("uri", URI),
    ("url", URI),
    (
        "ipv4",
        r"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$",
    ),
];

/// The compiled pattern of a known `format`, built once per process (a DFA takes milliseconds,
/// and a schema may have many fields of one format).
pub fn format(name: &str) -> Option<Arc<Pattern>> {
    static COMPILED: [OnceLock<Option<Arc<Pattern>>>; FORMATS.len()] =
        [const { OnceLock::new() }; FORMATS.len()];
    let i = FORMATS.iter().position(|(f, _)| *f == name)?;
    COMPILED[i]
        .get_or_init(|| Pattern::compile(FORMATS[i].1).ok().map(Arc::new))
        .clone()
}

/// Whether byte `b` may be written inside a patterned string.
fn allowed(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'
}

#[derive(Debug, Clone)]
pub struct Pattern {
    dfa: dense::DFA<Vec<u32>>,
    start: StateID,
    /// For every state reachable from the start with allowed bytes: the fewest bytes to an
    /// accepting state (absent: none can be reached).
    dist: HashMap<StateID, u32>,
}

impl Pattern {
    pub fn compile(pattern: &str) -> Result<Pattern> {
        let re = format!("(?s:.)*(?:{pattern})(?s:.)*");
        let dfa = dense::Builder::new()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .thompson(thompson::Config::new().utf8(false))
            .configure(
                dense::Config::new()
                    .start_kind(StartKind::Anchored)
                    .match_kind(MatchKind::All)
                    .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                    .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
            )
            .build(&re)
            .map_err(|e| anyhow!("the `pattern` {pattern:?} cannot be used: {e}"))?;
        let start = dfa
            .start_state(&start::Config::new().anchored(Anchored::Yes))
            .map_err(|e| anyhow!("the `pattern` {pattern:?} cannot be used: {e}"))?;
        let mut p = Pattern {
            dfa,
            start,
            dist: HashMap::new(),
        };
        p.measure();
        if !p.dist.contains_key(&start) {
            return Err(anyhow!(
                "no string of printable ASCII matches the `pattern` {pattern:?}"
            ));
        }
        Ok(p)
    }

    /// Fills `dist`: the states reachable with allowed bytes, then a breadth-first search back
    /// from the accepting ones along the transitions seen on the way.
    fn measure(&mut self) {
        let mut states = vec![self.start];
        let mut seen = HashSet::from([self.start]);
        let mut preds: HashMap<StateID, Vec<StateID>> = HashMap::new();
        let mut i = 0;
        while i < states.len() {
            let s = states[i];
            i += 1;
            for b in (0..=255u8).filter(|&b| allowed(b)) {
                let n = self.dfa.next_state(s, b);
                if self.dfa.is_dead_state(n) {
                    continue;
                }
                preds.entry(n).or_default().push(s);
                if seen.insert(n) {
                    states.push(n);
                }
            }
        }
        let mut queue: VecDeque<(StateID, u32)> = states
            .iter()
            .filter(|&&s| self.accepts(s))
            .map(|&s| (s, 0))
            .collect();
        let mut dist: HashMap<StateID, u32> = queue.iter().copied().collect();
        while let Some((s, d)) = queue.pop_front() {
            for &p in preds.get(&s).into_iter().flatten() {
                if let Entry::Vacant(e) = dist.entry(p) {
                    e.insert(d + 1);
                    queue.push_back((p, d + 1));
                }
            }
        }
        self.dist = dist;
    }

    fn accepts(&self, s: StateID) -> bool {
        self.dfa.is_match_state(self.dfa.next_eoi_state(s))
    }

    pub fn start(&self) -> u32 {
        self.start.as_u32()
    }

    fn id(s: u32) -> Option<StateID> {
        StateID::new(s as usize).ok()
    }

    /// The state after `b`, if a match can still be reached from it.
    pub fn step(&self, s: u32, b: u8) -> Option<u32> {
        if !allowed(b) {
            return None;
        }
        let n = self.dfa.next_state(Self::id(s)?, b);
        self.dist.contains_key(&n).then(|| n.as_u32())
    }

    /// Whether the string may end here.
    pub fn can_close(&self, s: u32) -> bool {
        Self::id(s).is_some_and(|s| self.accepts(s))
    }

    /// The fewest bytes before the string may end.
    pub fn dist(&self, s: u32) -> u32 {
        Self::id(s)
            .and_then(|s| self.dist.get(&s).copied())
            .unwrap_or(FAR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(p: &Pattern, text: &str) -> bool {
        let mut s = p.start();
        for b in text.bytes() {
            match p.step(s, b) {
                Some(n) => s = n,
                None => return false,
            }
        }
        p.can_close(s)
    }

    #[test]
    fn anchored_and_unanchored_patterns_match_as_json_schema_says() {
        let p = Pattern::compile(r"^\d{3}-\d{4}$").unwrap();
        assert!(accepts(&p, "555-1234"));
        assert!(!accepts(&p, "x555-1234"));
        assert!(!accepts(&p, "555-12345"));
        assert_eq!(p.dist(p.start()), 8);
        // Unanchored: a search.
        let p = Pattern::compile(r"ab+c").unwrap();
        assert!(accepts(&p, "xxabbbcyy"));
        assert!(!accepts(&p, "ac"));
        assert_eq!(p.dist(p.start()), 3);
        // Alternatives where one is a prefix of another (leftmost-first would drop `ab`).
        let p = Pattern::compile(r"^(a|ab)$").unwrap();
        assert!(accepts(&p, "a") && accepts(&p, "ab"));
    }

    #[test]
    fn every_format_pattern_compiles_and_accepts_a_typical_value() {
        for (format, value) in [
            ("date-time", "2026-12-01T03:59:00Z"),
            ("date-time", "2026-12-01T03:59:00.123+01:00"),
            ("date", "2026-12-01"),
            ("date", "2026-11-30"),
            ("time", "03:59:00Z"),
            ("uuid", "123e4567-e89b-42d3-a456-426614174000"),
            ("email", "first.last@example.co.uk"),
            ("ipv4", "192.168.0.1"),
            ("uri", "https://docs.example.com/guide/start.html"),
        ] {
            let p = super::format(format).unwrap();
            assert!(accepts(&p, value), "{format}: {value}");
            assert!(!accepts(&p, "nope"), "{format}");
        }
        for not_a_date in ["2026-02-30", "2026-04-31", "2026-13-01"] {
            let p = super::format("date").unwrap();
            assert!(!accepts(&p, not_a_date), "{not_a_date}");
        }
    }

    #[test]
    fn quotes_backslashes_and_control_bytes_are_never_written() {
        let p = Pattern::compile(r".*").unwrap();
        for b in [b'"', b'\\', b'\n', 0x7f, 0xc3] {
            assert!(p.step(p.start(), b).is_none(), "{b:#x}");
        }
        // A pattern only such bytes could meet is refused at compile time.
        assert!(Pattern::compile(r#"^"$"#).is_err());
        assert!(Pattern::compile(r"^(unclosed$").is_err());
    }
}
