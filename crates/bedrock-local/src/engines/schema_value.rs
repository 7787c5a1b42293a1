//! A value that validates against a JSON schema, made from the schema alone: what the scripted
//! engine passes as a tool call's input (and writes as a structured-output answer).
//!
//! Covers the keywords tool schemas use: `type` (one or a list), `properties`/`required`,
//! `items`, `enum`, `const`, string `format`s and length bounds, number bounds and
//! `multipleOf`, array item counts, `anyOf`/`oneOf` (first branch), `allOf` (merged), and local
//! `$ref`s (`#/$defs/…`, `#/definitions/…`). `pattern` is not synthesised (the value is a plain
//! word). Deterministic: the same schema always gives the same value.

use serde_json::{json, Map, Number, Value};

/// Deep enough for any real tool schema; past it, `null` (or the cheapest valid value).
const MAX_DEPTH: usize = 12;
/// Properties written per object, at most.
const MAX_PROPERTIES: usize = 64;

/// A value valid against `schema`. `hint` seeds string values (e.g. the user's last words).
pub fn value_for(schema: &Value, hint: &str) -> Value {
    Gen { root: schema, hint }.value(schema, "value", 0, 0)
}

struct Gen<'a> {
    root: &'a Value,
    hint: &'a str,
}

impl Gen<'_> {
    fn resolve<'s>(&'s self, schema: &'s Value, depth: usize) -> &'s Value {
        let mut s = schema;
        for _ in 0..MAX_DEPTH.saturating_sub(depth) {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return s;
            };
            let Some(path) = r.strip_prefix('#') else {
                return s;
            };
            match self.root.pointer(path) {
                Some(target) => s = target,
                None => return s,
            }
        }
        s
    }

    fn value(&self, schema: &Value, name: &str, salt: usize, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return Value::Null;
        }
        let schema = self.resolve(schema, depth);
        let Some(obj) = schema.as_object() else {
            // `true` or an empty schema: anything goes.
            return json!(self.word(name, salt));
        };
        if let Some(c) = obj.get("const") {
            return c.clone();
        }
        if let Some(first) = obj
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.first())
        {
            return first.clone();
        }
        if let Some(all) = obj.get("allOf").and_then(Value::as_array) {
            let merged = self.merge(obj, all, depth);
            return self.value(&merged, name, salt, depth + 1);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(first) = obj.get(key).and_then(Value::as_array).and_then(|a| {
                // Prefer a branch that is not `null`.
                a.iter()
                    .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                    .or_else(|| a.first())
            }) {
                return self.value(first, name, salt, depth + 1);
            }
        }
        match self.kind(obj) {
            "object" => self.object(obj, salt, depth),
            "array" => self.array(obj, name, depth),
            "string" => json!(self.string(obj, name, salt)),
            "integer" => self.integer(obj),
            "number" => self.number(obj),
            "boolean" => json!(true),
            "null" => Value::Null,
            _ => json!(self.word(name, salt)),
        }
    }

    /// The schema's type: the first non-null one listed, else inferred from its keywords.
    fn kind<'s>(&self, obj: &'s Map<String, Value>) -> &'s str {
        match obj.get("type") {
            Some(Value::String(t)) => t,
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .or_else(|| types.iter().filter_map(Value::as_str).next())
                .unwrap_or("string"),
            _ if obj.contains_key("properties") || obj.contains_key("required") => "object",
            _ if obj.contains_key("items") => "array",
            _ if obj.contains_key("minimum") || obj.contains_key("maximum") => "number",
            _ => "any",
        }
    }

    fn merge(&self, base: &Map<String, Value>, all: &[Value], depth: usize) -> Value {
        let mut out = base.clone();
        out.remove("allOf");
        let mut props = out
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut required: Vec<Value> = out
            .get("required")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for part in all {
            let part = self.resolve(part, depth);
            let Some(p) = part.as_object() else { continue };
            for (k, v) in p {
                match k.as_str() {
                    "properties" => {
                        if let Some(m) = v.as_object() {
                            props.extend(m.clone());
                        }
                    }
                    "required" => required.extend(v.as_array().cloned().unwrap_or_default()),
                    _ => {
                        out.entry(k.clone()).or_insert_with(|| v.clone());
                    }
                }
            }
        }
        if !props.is_empty() {
            out.insert("properties".into(), Value::Object(props));
        }
        if !required.is_empty() {
            out.insert("required".into(), Value::Array(required));
        }
        Value::Object(out)
    }

    fn object(&self, obj: &Map<String, Value>, salt: usize, depth: usize) -> Value {
        let props = obj.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = obj
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // Every listed property (a fuller example), unless the schema bounds their number.
        let only_required = obj.contains_key("maxProperties");
        let mut out = Map::new();
        if let Some(props) = props {
            for (k, s) in props.iter().take(MAX_PROPERTIES) {
                if only_required && !required.contains(&k.as_str()) {
                    continue;
                }
                out.insert(k.clone(), self.value(s, k, salt, depth + 1));
            }
        }
        // Required names without a property schema: any value will do.
        for r in required {
            if !out.contains_key(r) {
                let extra = obj.get("additionalProperties").filter(|a| a.is_object());
                let v = match extra {
                    Some(s) => self.value(s, r, salt, depth + 1),
                    None => json!(self.word(r, salt)),
                };
                out.insert(r.to_string(), v);
            }
        }
        let min = obj
            .get("minProperties")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let mut i = 0usize;
        while (out.len() as u64) < min && i < MAX_PROPERTIES {
            let key = format!("field{i}");
            let v = match obj.get("additionalProperties").filter(|a| a.is_object()) {
                Some(s) => self.value(s, &key, salt, depth + 1),
                None => json!(self.word(&key, salt)),
            };
            out.insert(key, v);
            i += 1;
        }
        Value::Object(out)
    }

    fn array(&self, obj: &Map<String, Value>, name: &str, depth: usize) -> Value {
        let min = obj.get("minItems").and_then(Value::as_u64).unwrap_or(0);
        let max = obj
            .get("maxItems")
            .and_then(Value::as_u64)
            .unwrap_or(u64::MAX);
        let n = min.max(1).min(max).min(64) as usize;
        let prefix = obj.get("prefixItems").and_then(Value::as_array);
        let items = obj.get("items").cloned().unwrap_or(json!({}));
        (0..n)
            .map(|i| {
                let schema = prefix.and_then(|p| p.get(i)).unwrap_or(&items);
                self.value(schema, name, i, depth + 1)
            })
            .collect()
    }

    fn word(&self, name: &str, salt: usize) -> String {
        let hint: Vec<&str> = self.hint.split_whitespace().take(3).collect();
        let base = if hint.is_empty() {
            format!("{name} value")
        } else {
            hint.join(" ")
        };
        if salt == 0 {
            base
        } else {
            format!("{base} {}", salt + 1)
        }
    }

    fn string(&self, obj: &Map<String, Value>, name: &str, salt: usize) -> String {
        let mut s = match obj.get("format").and_then(Value::as_str) {
            Some("date-time") => "2026-01-01T00:00:00Z".to_string(),
            Some("date") => "2026-01-01".to_string(),
            Some("time") => "12:00:00Z".to_string(),
            Some("email") => format!("user{salt}@example.com"),
            Some("uri" | "url") => format!("https://example.com/{salt}"),
            Some("uuid") => format!("00000000-0000-4000-8000-{salt:012}"),
            Some("ipv4") => "192.0.2.1".to_string(),
            _ => self.word(name, salt),
        };
        let min = obj.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = obj
            .get("maxLength")
            .and_then(Value::as_u64)
            .map_or(usize::MAX, |m| m as usize);
        while s.chars().count() < min.min(10_000) {
            s.push('x');
        }
        if s.chars().count() > max {
            s = s.chars().take(max).collect();
        }
        s
    }

    fn bounds(obj: &Map<String, Value>) -> (Option<f64>, Option<f64>) {
        let num = |k: &str| obj.get(k).and_then(Value::as_f64);
        let low = match (num("minimum"), num("exclusiveMinimum")) {
            (Some(a), Some(b)) => Some(a.max(b + 1e-9)),
            (a, b) => a.or(b.map(|b| b + 1e-9)),
        };
        let high = match (num("maximum"), num("exclusiveMaximum")) {
            (Some(a), Some(b)) => Some(a.min(b - 1e-9)),
            (a, b) => a.or(b.map(|b| b - 1e-9)),
        };
        (low, high)
    }

    fn integer(&self, obj: &Map<String, Value>) -> Value {
        let (low, high) = Self::bounds(obj);
        let step = obj
            .get("multipleOf")
            .and_then(Value::as_f64)
            .filter(|m| *m >= 1.0 && m.fract() == 0.0)
            .unwrap_or(1.0);
        let mut v = match (low, high) {
            (Some(l), _) => (l / step).ceil() * step,
            (None, Some(h)) => ((h.min(1.0)) / step).floor() * step,
            (None, None) => step,
        };
        if let Some(h) = high {
            if v > h {
                v = (h / step).floor() * step;
            }
        }
        json!(v as i64)
    }

    fn number(&self, obj: &Map<String, Value>) -> Value {
        let (low, high) = Self::bounds(obj);
        let mut v = match (low, high) {
            (Some(l), Some(h)) => (l + h) / 2.0,
            (Some(l), None) => l + 1.0,
            (None, Some(h)) => h - 1.0,
            (None, None) => 1.5,
        };
        if let Some(m) = obj
            .get("multipleOf")
            .and_then(Value::as_f64)
            .filter(|m| *m > 0.0)
        {
            v = (v / m).round() * m;
            if low.is_some_and(|l| v < l) {
                v += m;
            }
        }
        Number::from_f64(v).map_or(json!(0), Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_schema() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 10},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                "when": {"type": "string", "format": "date"},
                "opt": {"type": ["null", "boolean"]},
                "nested": {"$ref": "#/$defs/point"}
            },
            "required": ["city"],
            "$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}}
        });
        let v = value_for(&schema, "weather in Paris");
        assert_eq!(v["city"], "weather in Paris");
        assert_eq!(v["unit"], "celsius");
        assert_eq!(v["days"], 1);
        assert_eq!(v["tags"].as_array().map(Vec::len), Some(2));
        assert_eq!(v["when"], "2026-01-01");
        assert_eq!(v["opt"], true);
        assert_eq!(v["nested"]["x"], 1.5);
        assert_eq!(value_for(&schema, "weather in Paris"), v, "deterministic");
    }

    #[test]
    fn recursion_is_bounded() {
        let schema = json!({"$ref": "#"});
        let _ = value_for(&schema, "");
        let deep =
            json!({"type": "object", "properties": {"next": {"$ref": "#"}}, "required": ["next"]});
        let v = value_for(&deep, "");
        assert!(v.is_object());
    }
}
