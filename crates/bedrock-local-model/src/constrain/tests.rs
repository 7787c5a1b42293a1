//! Property tests of constrained decoding, without a model:
//! - soundness: random walks through the machine (any allowed byte, then steered to a finish)
//!   give documents that serde_json parses and the `jsonschema` crate validates;
//! - reachability: documents generated from the schema itself (an independent reading of the
//!   keywords, checked by `jsonschema`) are accepted byte by byte, in the grammar's layout;
//! - masks: the trie walk (with its string shortcut) equals trying every token alone;
//! - budget: the distance to a finished document is exact enough to finish within it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::machine::State;
use super::schema::{write_str, Grammar, ITEM_SEP, KEY_SEP, MAX_EXTRA};
use super::vocab::TokenIndex;

/// The tool schemas of the benchmark, and a few whole-document schemas.
fn schemas() -> &'static Vec<(String, Value)> {
    static S: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    S.get_or_init(|| {
        let tools: Vec<Value> =
            serde_json::from_str(include_str!("../../tests/data/tool_schemas.json")).unwrap();
        let mut out: Vec<(String, Value)> = tools
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().to_string(),
                    t["input_schema"].clone(),
                )
            })
            .collect();
        for (name, s) in [
            ("any", json!({})),
            ("number", json!({"type": "number"})),
            ("bounded_negative", json!({"type": "number", "minimum": -2.5, "maximum": -0.25})),
            // What zod's `z.number().int()` becomes (the Vercel AI SDK's schemas).
            ("zod_int", json!({"type": "integer", "minimum": -9007199254740991_i64, "maximum": 9007199254740991_i64})),
            ("huge_upper_only", json!({"type": "number", "maximum": 1e300})),
            // Patterns and formats (zod's email, uuid and date-time carry both), and zod's records.
            ("contact", json!({"type": "object", "properties": {
                // zod 4's email pattern (its `format` left out: a validator's idea of an email
                // differs from zod's, and only the pattern is followed when both are given).
                "email": {"type": "string", "minLength": 1, "pattern": "^(?:[A-Za-z0-9_'+\\-]+\\.)*[A-Za-z0-9_'+\\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\\-]*\\.)+[A-Za-z]{2,}$", "examples": ["a@b.co", "first.last@mail.example.org"]},
                "id": {"type": "string", "format": "uuid"},
                "when": {"type": "string", "format": "date-time"},
                "site": {"type": "string", "format": "uri"},
                "phone": {"type": "string", "pattern": "\\d{3}-\\d{4}", "examples": ["555-1234", "call 555-1234 now"]}
            }, "required": ["email", "id", "when", "site", "phone"], "additionalProperties": false})),
            // zod's discriminatedUnion, and pydantic's (alternatives behind `$ref`s).
            ("shape", json!({"oneOf": [
                {"type": "object", "properties": {"kind": {"type": "string", "const": "circle"}, "r": {"type": "number"}}, "required": ["kind", "r"], "additionalProperties": false},
                {"type": "object", "properties": {"kind": {"type": "string", "const": "square"}, "side": {"type": "number"}}, "required": ["kind", "side"], "additionalProperties": false}
            ]})),
            ("pet", json!({"$defs": {
                "Cat": {"type": "object", "properties": {"pet_type": {"const": "cat"}, "lives": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["pet_type", "lives"]},
                "Dog": {"type": "object", "properties": {"pet_type": {"const": "dog"}, "barks": {"type": "boolean"}}, "required": ["pet_type", "barks"]}
            }, "oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}], "discriminator": {"propertyName": "pet_type"}})),
            ("record", json!({"type": "object", "propertyNames": {"type": "string"}, "additionalProperties": {"type": "number"}})),
            ("integer_list", json!({"type": "array", "items": {"type": "integer"}, "maxItems": 4})),
            ("string_or_null", json!({"type": ["string", "null"], "maxLength": 4})),
            ("one_of", json!({"oneOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]})),
            ("enum_mixed", json!({"enum": ["a", "ab", 1, 10, null, true, [1, 2], {"k": "v"}]})),
            ("escaped_keys", json!({"type": "object", "properties": {"a\"b": {"type": "integer"}, "c\\d": {"type": "boolean"}, "é": {"type": "null"}}, "required": ["c\\d"]})),
            ("extras_after_declared", json!({"type": "object", "properties": {"id": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}})),
            ("nested_required", json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "array", "items": {"type": "string"}, "minItems": 2}}, "required": ["b"]}}, "required": ["a"]})),
        ] {
            out.push((name.to_string(), s));
        }
        out
    })
}

fn compiled() -> &'static Vec<(String, Value, Grammar, jsonschema::Validator)> {
    static C: OnceLock<Vec<(String, Value, Grammar, jsonschema::Validator)>> = OnceLock::new();
    C.get_or_init(|| {
        schemas()
            .iter()
            .map(|(n, s)| {
                let g = Grammar::compile(s).unwrap_or_else(|e| panic!("{n}: {e:#}"));
                // Formats are checked, except where a `pattern` stands beside one: then the
                // pattern is what is followed (the format only annotates; zod writes both, and
                // its own email pattern is looser than a validator's idea of an email).
                let v = jsonschema::options()
                    .should_validate_formats(!pattern_beside_format(s))
                    .build(s)
                    .unwrap_or_else(|e| panic!("{n}: {e}"));
                (n.clone(), s.clone(), g, v)
            })
            .collect()
    })
}

fn pattern_beside_format(s: &Value) -> bool {
    match s {
        Value::Object(m) => {
            (m.contains_key("pattern") && m.contains_key("format"))
                || m.values().any(pattern_beside_format)
        }
        Value::Array(a) => a.iter().any(pattern_beside_format),
        _ => false,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// A random document through the machine: any allowed byte (mostly ASCII) for `free` bytes,
/// then only bytes that bring the end closer.
fn random_walk(g: &Grammar, rng: &mut Rng, free: usize) -> (Vec<u8>, Vec<State>) {
    let mut s = State::new(g);
    let mut out = Vec::new();
    let mut states = vec![s.clone()];
    for _ in 0..4000 {
        if s.is_done(g) || (s.can_end(g) && (out.len() >= free || rng.chance(20))) {
            return (out, states);
        }
        let d = s.dist(g);
        let mut allowed = Vec::new();
        for b in 0..=255u8 {
            let mut t = s.clone();
            if t.advance(g, b) && (out.len() < free || t.dist(g) < d) {
                allowed.push((b, t));
            }
        }
        assert!(
            !allowed.is_empty(),
            "no byte continues {:?} (dist {d})",
            String::from_utf8_lossy(&out)
        );
        let ascii: Vec<usize> = (0..allowed.len())
            .filter(|&i| allowed[i].0.is_ascii())
            .collect();
        let pick = if !ascii.is_empty() && rng.chance(90) {
            ascii[rng.below(ascii.len())]
        } else {
            rng.below(allowed.len())
        };
        let (b, t) = allowed.swap_remove(pick);
        out.push(b);
        s = t;
        states.push(s.clone());
    }
    panic!(
        "no end after 4000 bytes: {:?}",
        String::from_utf8_lossy(&out)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_output_parses_and_validates(seed in any::<u64>(), free in 0usize..60) {
        for (name, _, g, v) in compiled() {
            let mut rng = Rng(seed ^ name.len() as u64);
            let (doc, _) = random_walk(g, &mut rng, free);
            let text = String::from_utf8(doc).map_err(|e| TestCaseError::fail(format!("{name}: not UTF-8: {e}")))?;
            let value: Value = serde_json::from_str(&text)
                .map_err(|e| TestCaseError::fail(format!("{name}: {text:?} does not parse: {e}")))?;
            prop_assert!(v.is_valid(&value), "{}: {} does not validate", name, text);
        }
    }

    #[test]
    fn every_valid_document_is_accepted(seed in any::<u64>()) {
        for (name, schema, g, v) in compiled() {
            let mut rng = Rng(seed.wrapping_mul(31) ^ name.len() as u64);
            let value = gen_value(schema, schema, &mut rng, 0);
            prop_assert!(v.is_valid(&value), "{}: the generator made an invalid {}", name, value);
            let mut bytes = Vec::new();
            write_in_layout(&value, schema, schema, &mut bytes);
            let mut s = State::new(g);
            for (i, &b) in bytes.iter().enumerate() {
                prop_assert!(s.advance(g, b), "{}: refused at byte {} of {}", name, i, String::from_utf8_lossy(&bytes));
            }
            prop_assert!(s.can_end(g), "{}: {} not complete", name, String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn trie_masks_equal_per_token_masks(seed in any::<u64>()) {
        let (pieces, index) = toy_vocab();
        let mut scratch = Vec::new();
        for (name, _, g, _) in compiled() {
            let mut rng = Rng(seed ^ (name.len() as u64) << 7);
            let (_, states) = random_walk(g, &mut rng, 30);
            for s in states.iter().step_by(3) {
                let fast = index.mask(g, s, &mut scratch);
                let slow = index.mask_slow(g, s, |i| pieces[i as usize].as_slice());
                prop_assert_eq!(&fast, &slow, "{}", name);
                prop_assert!(!fast.is_empty(), "{}: empty mask", name);
            }
        }
    }

    #[test]
    fn the_distance_can_always_be_walked_down(seed in any::<u64>()) {
        for (name, _, g, _) in compiled() {
            let mut rng = Rng(seed ^ name.len() as u64);
            let (_, states) = random_walk(g, &mut rng, 40);
            for s in states.iter().step_by(5) {
                // Following the steepest byte finishes in exactly `dist` bytes or fewer.
                let mut s = s.clone();
                let d0 = s.dist(g);
                let mut n = 0;
                while !s.can_end(g) {
                    let d = s.dist(g);
                    let next = (0..=255u8).find_map(|b| {
                        let mut t = s.clone();
                        (t.advance(g, b) && t.dist(g) < d).then_some(t)
                    });
                    prop_assert!(next.is_some(), "{}: stuck at dist {}", name, d);
                    s = next.unwrap();
                    n += 1;
                    prop_assert!(n <= d0, "{}: more than {} bytes", name, d0);
                }
            }
        }
    }
}

/// A vocabulary of every byte plus multi-byte pieces typical of JSON and text, including cut
/// UTF-8 characters; id 0 is an end token.
fn toy_vocab() -> &'static (Vec<Vec<u8>>, TokenIndex) {
    static V: OnceLock<(Vec<Vec<u8>>, TokenIndex)> = OnceLock::new();
    V.get_or_init(|| {
        let mut pieces: Vec<Vec<u8>> = vec![Vec::new()];
        pieces.extend((0..=255u8).map(|b| vec![b]));
        for p in [
            "{\"",
            "\":",
            "\": ",
            "\": \"",
            "\", \"",
            "\"}",
            "}}",
            "\"]",
            "\"],",
            "[\"",
            "[{",
            "}]",
            ", ",
            "12",
            "0.",
            ".5",
            "-1",
            "1e",
            "e-",
            "true",
            "null",
            "false",
            "nul",
            "city",
            " Paris",
            "Paris\"",
            "\\n",
            "\\\"",
            "\\u00",
            "\\ud8",
            "é",
            "日本",
            "\"é",
            "name",
            "\"name",
            "arguments",
            " \"",
            "\n",
            "  ",
            "a\"b",
            "c\\\\d",
            "🦀",
            "ab",
            "1,",
        ] {
            pieces.push(p.as_bytes().to_vec());
        }
        // Cut characters: the first two bytes of 日, and its last byte alone.
        pieces.push("日".as_bytes()[..2].to_vec());
        pieces.push("日".as_bytes()[2..].to_vec());
        pieces.push(b"x\xe6".to_vec());
        let index = TokenIndex::new(pieces.len(), |i| pieces[i as usize].as_slice(), |i| i == 0);
        (pieces.clone(), index)
    })
}

fn resolve<'a>(root: &'a Value, s: &'a Value) -> &'a Value {
    match s.get("$ref").and_then(Value::as_str) {
        Some(r) => resolve(root, root.pointer(&r[1..]).unwrap()),
        None => match s.get("allOf").and_then(Value::as_array) {
            Some(a) if a.len() == 1 => resolve(root, &a[0]),
            _ => s,
        },
    }
}

/// A random value valid for `s`, read from the schema's keywords directly.
fn gen_value(root: &Value, s: &Value, rng: &mut Rng, depth: usize) -> Value {
    let s = resolve(root, s);
    if let Some(alts) = s
        .get("anyOf")
        .or_else(|| s.get("oneOf"))
        .and_then(Value::as_array)
    {
        return gen_value(root, &alts[rng.below(alts.len())], rng, depth + 1);
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        let types = type_list(s);
        let ok: Vec<&Value> = e
            .iter()
            .filter(|v| types.is_empty() || types.iter().any(|t| json_type_is(t, v)))
            .collect();
        return ok[rng.below(ok.len())].clone();
    }
    if let Some(c) = s.get("const") {
        return c.clone();
    }
    let mut types = type_list(s);
    if types.is_empty() {
        types = if s.get("properties").is_some() {
            vec!["object".into()]
        } else if s.get("items").is_some() {
            vec!["array".into()]
        } else {
            vec!["null", "boolean", "number", "string", "array", "object"]
                .into_iter()
                .map(String::from)
                .collect()
        };
    }
    if depth > 4 && types.iter().any(|t| t != "array" && t != "object") {
        // Keep free-form values shallow.
        types.retain(|t| t != "array" && t != "object");
    }
    let t = types[rng.below(types.len())].clone();
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    match t.as_str() {
        "null" => Value::Null,
        "boolean" => Value::Bool(rng.chance(50)),
        "integer" => {
            let lo = num("minimum")
                .map(|v| v.ceil() as i64)
                .or(num("exclusiveMinimum").map(|v| v.floor() as i64 + 1))
                .unwrap_or(-1000);
            let hi = num("maximum")
                .map(|v| v.floor() as i64)
                .or(num("exclusiveMaximum").map(|v| v.ceil() as i64 - 1))
                .unwrap_or(lo.max(0) + 100_000);
            // Short documents: a range such as zod's ±(2^53 − 1) is sampled near zero.
            let (lo, hi) = (lo.max(-1_000_000), hi.min(1_000_000));
            json!(lo + rng.below((hi - lo + 1) as usize) as i64)
        }
        "number" => {
            let lo = num("minimum")
                .or(num("exclusiveMinimum").map(|v| v + 0.01))
                .unwrap_or(-500.0);
            let hi = num("maximum")
                .or(num("exclusiveMaximum").map(|v| v - 0.01))
                .unwrap_or(lo.max(0.0) + 1000.0);
            let (lo, hi) = (lo.max(-1e6), hi.min(1e6));
            let steps = ((hi - lo) * 100.0).floor() as usize;
            let v = ((lo * 100.0).ceil() + rng.below(steps + 1) as f64) / 100.0;
            let v = v.clamp(lo, hi);
            if rng.chance(30) && v.fract() == 0.0 {
                json!(v as i64)
            } else {
                json!(v)
            }
        }
        // Patterned strings: the schema's own `examples` (a generator for a regex is a test of
        // its own; the pattern module's tests cover matching).
        "string" if s.get("examples").is_some() => {
            let ex = s["examples"].as_array().unwrap();
            ex[rng.below(ex.len())].clone()
        }
        // Formats the grammar follows (`format_pattern`): values of that format.
        "string"
            if s.get("format").is_some_and(|f| {
                crate::constrain::pattern::format(f.as_str().unwrap_or("")).is_some()
            }) =>
        {
            let ex: &[&str] = match s["format"].as_str().unwrap_or("") {
                "email" => &["a@b.co", "ops+alerts@example.com"],
                "date-time" => &["2026-12-01T03:59:00Z", "2000-02-28T12:00:00.25-07:00"],
                "date" => &["2026-12-01"],
                "time" => &["23:59:59Z"],
                "uuid" => &["123e4567-e89b-42d3-a456-426614174000"],
                "uri" | "url" => &["https://example.com", "https://a.b.example.org/x/y.html"],
                _ => &["10.0.0.1", "255.255.255.255"],
            };
            json!(ex[rng.below(ex.len())])
        }
        "string" => {
            let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            let max = s
                .get("maxLength")
                .and_then(Value::as_u64)
                .map_or(min + 12, |m| m as usize);
            let n = min + rng.below(max - min + 1);
            Value::String(gen_string(rng, n, true))
        }
        "array" => {
            let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let max = s
                .get("maxItems")
                .and_then(Value::as_u64)
                .map_or(min + 3, |m| m as usize);
            let n = if depth > 4 {
                min
            } else {
                min + rng.below(max.min(min + 3) - min + 1)
            };
            let items = s.get("items").cloned().unwrap_or(json!({}));
            Value::Array(
                (0..n)
                    .map(|_| gen_value(root, &items, rng, depth + 1))
                    .collect(),
            )
        }
        _ => {
            let mut m = Map::new();
            let required: Vec<&str> = s
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let props = s.get("properties").and_then(Value::as_object);
            for (k, ps) in props.into_iter().flatten() {
                if required.contains(&k.as_str()) || rng.chance(50) {
                    m.insert(k.clone(), gen_value(root, ps, rng, depth + 1));
                }
            }
            let extra = match s.get("additionalProperties") {
                Some(Value::Bool(true)) => Some(json!({})),
                Some(e @ Value::Object(_)) => Some(e.clone()),
                _ => None,
            };
            if let Some(e) = extra {
                for _ in 0..rng.below(MAX_EXTRA.min(3) + 1) {
                    let len = 1 + rng.below(6);
                    let k = gen_string(rng, len, false);
                    if props.is_some_and(|p| p.contains_key(&k)) || m.contains_key(&k) {
                        continue;
                    }
                    m.insert(k, gen_value(root, &e, rng, depth + 1));
                }
            }
            Value::Object(m)
        }
    }
}

fn type_list(s: &Value) -> Vec<String> {
    match s.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    }
}

fn json_type_is(t: &str, v: &Value) -> bool {
    match t {
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    }
}

/// `escapes`: characters that need escaping may appear.
fn gen_string(rng: &mut Rng, n: usize, escapes: bool) -> String {
    const PLAIN: &[&str] = &["a", "b", "Z", "7", " ", "-", "é", "日", "🦀", "/", "'", "{"];
    const ESCAPED: &[&str] = &["\"", "\\", "\n", "\t", "\u{1}"];
    (0..n)
        .map(|_| {
            if escapes && rng.chance(15) {
                ESCAPED[rng.below(ESCAPED.len())]
            } else {
                PLAIN[rng.below(PLAIN.len())]
            }
        })
        .collect()
}

/// `v` in the grammar's layout: declared properties in the schema's order, then the others.
fn write_in_layout(v: &Value, root: &Value, s: &Value, out: &mut Vec<u8>) {
    let s = resolve(root, s);
    match v {
        Value::Object(m) => {
            // The alternative of an anyOf/type list that describes objects, if any.
            let obj_schema = object_schema(root, s, m);
            let props = obj_schema
                .and_then(|o| o.get("properties"))
                .and_then(Value::as_object);
            let extra = obj_schema.and_then(|o| o.get("additionalProperties"));
            let mut keys: Vec<&String> = Vec::new();
            if let Some(p) = props {
                keys.extend(p.keys().filter(|k| m.contains_key(*k)));
            }
            keys.extend(
                m.keys()
                    .filter(|k| props.is_none_or(|p| !p.contains_key(*k))),
            );
            out.push(b'{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(ITEM_SEP);
                }
                write_str(k, out);
                out.extend_from_slice(KEY_SEP);
                let sub = props
                    .and_then(|p| p.get(*k))
                    .or(extra.filter(|e| e.is_object()))
                    .cloned()
                    .unwrap_or(json!({}));
                write_in_layout(&m[*k], root, &sub, out);
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            let items = array_items(root, s).unwrap_or(json!({}));
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(ITEM_SEP);
                }
                write_in_layout(x, root, &items, out);
            }
            out.push(b']');
        }
        other => super::schema::write_json(other, out),
    }
}

/// The object alternative of `s` that declares every key of `m` (else the first one).
fn object_schema<'a>(root: &'a Value, s: &'a Value, m: &Map<String, Value>) -> Option<&'a Value> {
    let s = resolve(root, s);
    if let Some(alts) = s
        .get("anyOf")
        .or_else(|| s.get("oneOf"))
        .and_then(Value::as_array)
    {
        let objects: Vec<&Value> = alts
            .iter()
            .filter_map(|a| object_schema(root, a, m))
            .collect();
        let declares_all = |o: &&Value| {
            o.get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| m.keys().all(|k| p.contains_key(k)))
        };
        return objects
            .iter()
            .find(|o| declares_all(o))
            .or(objects.first())
            .copied();
    }
    let types = type_list(s);
    (types.is_empty() || types.iter().any(|t| t == "object")).then_some(s)
}

fn array_items(root: &Value, s: &Value) -> Option<Value> {
    let s = resolve(root, s);
    if let Some(alts) = s
        .get("anyOf")
        .or_else(|| s.get("oneOf"))
        .and_then(Value::as_array)
    {
        return alts.iter().find_map(|a| array_items(root, a));
    }
    s.get("items").cloned()
}

#[test]
fn unsupported_keywords_are_refused_by_name() {
    for (kw, schema) in [
        (
            "contains",
            json!({"type": "array", "contains": {"type": "null"}}),
        ),
        ("multipleOf", json!({"type": "integer", "multipleOf": 3})),
        ("uniqueItems", json!({"type": "array", "uniqueItems": true})),
        ("not", json!({"not": {"type": "null"}})),
        (
            "patternProperties",
            json!({"type": "object", "patternProperties": {"a": {}}}),
        ),
    ] {
        let e = Grammar::compile(&schema).unwrap_err().to_string();
        assert!(e.contains(kw), "{kw}: {e}");
    }
    let e = Grammar::compile(
        &json!({"oneOf": [{"type": "object"}, {"type": "object", "properties": {"a": {}}}]}),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("oneOf"), "{e}");
    // Told apart by a constant, but the same constant twice: refused too.
    let same = json!({"type": "object", "properties": {"k": {"const": "a"}}, "required": ["k"]});
    let e = Grammar::compile(&json!({"oneOf": [same, same]})).unwrap_err();
    assert!(e.to_string().contains("oneOf"), "{e}");
    assert!(Grammar::compile(&json!({"type": "integer", "minimum": 2, "maximum": 1})).is_err());
    assert!(Grammar::compile(&json!({"$ref": "#/$defs/missing"})).is_err());
    // Annotations and x- keywords are fine.
    Grammar::compile(&json!({"type": "string", "format": "uri", "description": "d", "x-foo": 1}))
        .unwrap();
}

#[test]
fn layout_and_order_are_fixed() {
    let g = Grammar::compile(&json!({
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
        "required": ["a", "b"]
    }))
    .unwrap();
    let accepts = |t: &str| {
        let mut s = State::new(&g);
        s.advance_bytes(&g, t.as_bytes()) && s.can_end(&g)
    };
    assert!(accepts(r#"{"a": 1, "b": "x"}"#));
    assert!(!accepts(r#"{"a":1,"b":"x"}"#));
    assert!(!accepts(r#"{"b": "x", "a": 1}"#));
    assert!(!accepts(r#"{"a": 1}"#));
    assert!(!accepts(r#"{"a": 01, "b": "x"}"#));
    assert!(!accepts(r#"{"a": 1, "b": "x", "c": 2}"#));
    assert!(!accepts(r#"{"a": 1.5, "b": "x"}"#));
    // Nothing may follow a finished object.
    let mut s = State::new(&g);
    assert!(s.advance_bytes(&g, br#"{"a": 1, "b": "x"}"#));
    assert!(s.is_done(&g));
    assert!(!s.clone().advance(&g, b' '));
}

#[test]
fn bounds_steer_numbers() {
    let g = Grammar::compile(&json!({"type": "integer", "minimum": 5, "maximum": 480})).unwrap();
    let ok = |t: &str| {
        let mut s = State::new(&g);
        s.advance_bytes(&g, t.as_bytes())
    };
    assert!(ok("48"));
    assert!(!ok("481"));
    assert!(!ok("0"));
    assert!(!ok("-"));
    assert!(ok("4"), "4 can still become 40..49");
    let mut s = State::new(&g);
    assert!(s.advance_bytes(&g, b"4"));
    assert!(!s.can_end(&g));
    assert_eq!(s.dist(&g), 1);
    let g =
        Grammar::compile(&json!({"type": "number", "exclusiveMinimum": 0, "maximum": 1})).unwrap();
    let mut s = State::new(&g);
    assert!(s.advance_bytes(&g, b"0"));
    assert!(!s.can_end(&g), "0 is excluded");
    assert!(s.advance_bytes(&g, b".0"));
    assert!(!s.can_end(&g));
    assert!(s.advance_bytes(&g, b"01"));
    assert!(s.can_end(&g));
    let mut s = State::new(&g);
    assert!(!s.advance_bytes(&g, b"1.01"));
    // Far-side bounds beyond 15 digits are implied; near-side ones leave nothing and are refused.
    let g = Grammar::compile(&json!({"type": "integer", "minimum": -9007199254740991_i64, "maximum": 9007199254740991_i64})).unwrap();
    let mut s = State::new(&g);
    assert!(s.advance_bytes(&g, b"-123456789012345") && s.can_end(&g));
    assert!(!s.advance_bytes(&g, b"6"), "a 16th digit");
    let e = Grammar::compile(&json!({"type": "integer", "minimum": 5e15})).unwrap_err();
    assert!(e.to_string().contains("1e15"), "{e}");
    // A pattern with a length limit it does not imply is refused; one it implies is not.
    let e = Grammar::compile(&json!({"type": "string", "pattern": "^a+$", "maxLength": 3}))
        .unwrap_err();
    assert!(e.to_string().contains("pattern"), "{e}");
    Grammar::compile(&json!({"type": "string", "pattern": "^a+$", "minLength": 1})).unwrap();
    assert!(
        Grammar::compile(&json!({"type": "string", "pattern": "^a+$", "minLength": 2})).is_err()
    );
    // An unknown format is an annotation: a plain string.
    let g = Grammar::compile(&json!({"type": "string", "format": "x-custom"})).unwrap();
    let mut s = State::new(&g);
    assert!(s.advance_bytes(&g, br#""any \" text""#) && s.can_end(&g));
    assert!(Grammar::compile(&json!({"type": "number", "maximum": -5e15})).is_err());
}

#[test]
fn strings_reject_bad_escapes_surrogates_and_invalid_utf8() {
    let g = Grammar::compile(&json!({"type": "string"})).unwrap();
    let ok = |t: &[u8]| {
        let mut s = State::new(&g);
        s.advance_bytes(&g, t) && s.can_end(&g)
    };
    assert!(ok(br#""a\n\u00e9\"""#));
    assert!(!ok(br#""\x""#));
    assert!(!ok(br#""\ud800""#));
    assert!(ok("\"日本🦀\"".as_bytes()));
    assert!(!ok(b"\"\xff\""));
    assert!(!ok(b"\"\xe6\x97\""));
    assert!(!ok(b"\"\xed\xa0\x80\""), "encoded surrogate");
    assert!(!ok(b"\"a\nb\""), "raw control byte");
}
