//! JSON Schema → grammar nodes, for the subset that tool and response schemas use.
//!
//! Supported: `type` (one name or a list), `properties`, `required`, `additionalProperties`
//! (`false`, `true` or a schema), `items`, `minItems`, `maxItems`, `enum`, `const`, `anyOf`,
//! `oneOf` (when its alternatives cannot start alike, or are objects told apart by a required
//! property with a different constant in each), `allOf` of one schema, `$ref` to
//! `#/...` (recursion included), `minLength`, `maxLength`, `minimum`, `maximum`,
//! `exclusiveMinimum`, `exclusiveMaximum` (numbers and draft-4 booleans).
//! Annotations (`title`, `description`, `default`, `examples`, `format`, …) are ignored:
//! `format` is an annotation by default in JSON Schema 2019-09 and later. Every other
//! assertion keyword is refused by name, so that a schema is never silently loosened.
//!
//! What the grammar generates is a subset of what the schema accepts, chosen for small models:
//! properties in the schema's order (required ones cannot be skipped), no properties beyond the
//! declared ones unless `additionalProperties` is `true` or a schema (then at most
//! [`MAX_EXTRA`] extra keys, after the declared ones, without backslashes), separators `", "` and
//! `": "` and no other whitespace (the layout of Python's `json.dumps`, the most common in
//! tool-calling training data), at most 15 significant digits in bounded numbers and 17
//! otherwise (so a bound beyond ±1e15 on the far side, such as zod's ±(2^53 − 1) for integers,
//! changes nothing, and one on the near side is refused).

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};

use super::pattern::{self, Pattern};

/// Separator between array items and object members.
pub const ITEM_SEP: &[u8] = b", ";
/// Separator between a key and its value.
pub const KEY_SEP: &[u8] = b": ";
/// Extra (undeclared) keys one object may hold.
pub const MAX_EXTRA: usize = 6;
/// Declared properties one object may have (candidates are tracked in a 64-bit set).
pub const MAX_PROPERTIES: usize = 64;

pub type NodeId = u32;

/// A number's bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound {
    pub value: f64,
    pub exclusive: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NumSpec {
    pub integer: bool,
    pub lo: Option<Bound>,
    pub hi: Option<Bound>,
}

impl NumSpec {
    pub fn bounded(&self) -> bool {
        self.lo.is_some() || self.hi.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct Prop {
    /// The key as written: a JSON string literal, quotes included.
    pub key: Vec<u8>,
    pub value: NodeId,
    pub required: bool,
}

#[derive(Debug, Clone)]
pub struct ObjSpec {
    pub props: Vec<Prop>,
    /// The schema of undeclared properties, when they are allowed.
    pub extra: Option<NodeId>,
    /// Hashes of the declared names (see [`key_hash`]), excluded as extra keys.
    pub declared_hashes: Vec<u32>,
    /// For each `next` (0..=props.len()): required properties at or after it, and their cost
    /// (key, separator and shortest value), filled in by [`Grammar::finish`].
    pub req_count_from: Vec<u32>,
    pub req_cost_from: Vec<u32>,
}

impl ObjSpec {
    /// The declared properties that may come next when those before `next` are done: up to
    /// and including the first required one.
    pub fn candidates(&self, next: usize) -> std::ops::Range<usize> {
        let end = self.props[next.min(self.props.len())..]
            .iter()
            .position(|p| p.required)
            .map_or(self.props.len(), |i| next + i + 1);
        next.min(self.props.len())..end
    }

    /// Whether extra keys may come now: allowed at all, and no required property is left.
    pub fn extra_allowed(&self, next: usize) -> bool {
        self.extra.is_some() && self.req_count_from[next.min(self.props.len())] == 0
    }
}

#[derive(Debug, Clone)]
pub enum Node {
    /// One of a set of exact texts (enum, const, null, booleans), sorted.
    Lit(Vec<Vec<u8>>),
    Str {
        min: u32,
        max: Option<u32>,
    },
    /// A string under a `pattern` (or a known `format`).
    Pat(Arc<Pattern>),
    Num(NumSpec),
    Arr {
        items: NodeId,
        min: u32,
        max: Option<u32>,
    },
    Obj(ObjSpec),
    Union(Vec<NodeId>),
}

/// A compiled schema.
#[derive(Debug, Clone)]
pub struct Grammar {
    pub nodes: Vec<Node>,
    pub root: NodeId,
    /// The fewest bytes of a value of each node.
    pub min_len: Vec<u32>,
}

/// "Infinitely many" bytes, safe to add a few of.
pub const FAR: u32 = u32::MAX / 8;

impl Grammar {
    /// Compiles `schema` (its `$ref`s resolve within itself).
    pub fn compile(schema: &Value) -> Result<Grammar> {
        let mut c = Compiler {
            root: schema,
            nodes: Vec::new(),
            refs: HashMap::new(),
            depth: 0,
        };
        let root = c.node(schema)?;
        let mut g = Grammar {
            nodes: c.nodes,
            root,
            min_len: Vec::new(),
        };
        g.finish()?;
        Ok(g)
    }

    /// A grammar whose root is the union of `roots` compiled separately (e.g. one object per
    /// tool).
    pub fn compile_any_of(schemas: &[Value]) -> Result<Grammar> {
        Grammar::compile(&serde_json::json!({ "anyOf": schemas }))
    }

    /// The JSON of one tool call, `{"name": "…", "arguments": {…}}`, for any of `tools`
    /// (name, input schema): a union of one object per tool, so that the arguments follow the
    /// schema of the tool named.
    pub fn tool_calls(tools: &[(&str, &Value)]) -> Result<Grammar> {
        if tools.is_empty() {
            bail!("no tools to call");
        }
        let mut nodes = Vec::new();
        let mut alts = Vec::new();
        for (name, schema) in tools {
            let mut c = Compiler {
                root: schema,
                nodes: std::mem::take(&mut nodes),
                refs: HashMap::new(),
                depth: 0,
            };
            let args = c
                .node(schema)
                .map_err(|e| anyhow!("the input schema of tool {name:?}: {e:#}"))?;
            let mut lit = Vec::new();
            write_str(name, &mut lit);
            let name_node = c.push(Node::Lit(vec![lit]));
            let props = vec![
                Prop {
                    key: b"\"name\"".to_vec(),
                    value: name_node,
                    required: true,
                },
                Prop {
                    key: b"\"arguments\"".to_vec(),
                    value: args,
                    required: true,
                },
            ];
            let declared_hashes = vec![key_hash(b"name"), key_hash(b"arguments")];
            alts.push(c.push(Node::Obj(ObjSpec {
                props,
                extra: None,
                declared_hashes,
                req_count_from: Vec::new(),
                req_cost_from: Vec::new(),
            })));
            nodes = c.nodes;
        }
        let root = match alts.as_slice() {
            [one] => *one,
            _ => {
                nodes.push(Node::Union(alts));
                (nodes.len() - 1) as NodeId
            }
        };
        let mut g = Grammar {
            nodes,
            root,
            min_len: Vec::new(),
        };
        g.finish()?;
        Ok(g)
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id as usize]
    }

    pub fn min(&self, id: NodeId) -> u32 {
        self.min_len[id as usize]
    }

    /// Shortest lengths by fixed-point iteration (schemas may be recursive), then the per-
    /// object suffix costs.
    fn finish(&mut self) -> Result<()> {
        let n = self.nodes.len();
        self.min_len = vec![FAR; n];
        for _round in 0..=n + 1 {
            let mut changed = false;
            for i in 0..n {
                let l = self.node_min(i).min(FAR);
                if l < self.min_len[i] {
                    self.min_len[i] = l;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        if self.min_len[self.root as usize] >= FAR {
            bail!("the schema admits no finite JSON document");
        }
        for i in 0..n {
            let costs = if let Node::Obj(o) = &self.nodes[i] {
                let mut count = vec![0u32; o.props.len() + 1];
                let mut cost = vec![0u32; o.props.len() + 1];
                for (j, p) in o.props.iter().enumerate().rev() {
                    let (c, k) = (count[j + 1], cost[j + 1]);
                    if p.required {
                        count[j] = c + 1;
                        cost[j] = k
                            .saturating_add(p.key.len() as u32 + KEY_SEP.len() as u32)
                            .saturating_add(self.min_len[p.value as usize])
                            .min(FAR);
                    } else {
                        count[j] = c;
                        cost[j] = k;
                    }
                }
                Some((count, cost))
            } else {
                None
            };
            if let (Some((count, cost)), Node::Obj(o)) = (costs, &mut self.nodes[i]) {
                o.req_count_from = count;
                o.req_cost_from = cost;
            }
        }
        Ok(())
    }

    fn node_min(&self, i: usize) -> u32 {
        let l = |id: NodeId| self.min_len[id as usize];
        let is = ITEM_SEP.len() as u32;
        match &self.nodes[i] {
            Node::Lit(items) => items.iter().map(|v| v.len() as u32).min().unwrap_or(FAR),
            Node::Str { min, .. } => 2 + min,
            Node::Pat(p) => 2u32.saturating_add(p.dist(p.start())),
            Node::Num(spec) => crate::constrain::machine::num_min_len(spec),
            Node::Arr { items, min, .. } => {
                if *min == 0 {
                    2
                } else {
                    2u32.saturating_add(
                        l(*items)
                            .saturating_mul(*min)
                            .saturating_add(is * (min - 1)),
                    )
                }
            }
            Node::Obj(o) => {
                let mut total = 2u32;
                let mut count = 0u32;
                for p in o.props.iter().filter(|p| p.required) {
                    total = total
                        .saturating_add(p.key.len() as u32 + KEY_SEP.len() as u32)
                        .saturating_add(l(p.value));
                    count += 1;
                }
                total.saturating_add(is * count.saturating_sub(1))
            }
            Node::Union(alts) => alts.iter().map(|&a| l(a)).min().unwrap_or(FAR),
        }
    }
}

/// FNV-1a of a key's bytes as written (between the quotes).
pub fn key_hash(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for &b in bytes {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Keywords that only annotate.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "example",
    "format",
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentMediaType",
    "contentEncoding",
    "discriminator",
    // OpenAPI's `nullable` is not JSON Schema: validators ignore it, so null is not added.
    "nullable",
];

/// Keywords this compiler carries.
const CARRIED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "pattern",
];

struct Compiler<'a> {
    root: &'a Value,
    nodes: Vec<Node>,
    refs: HashMap<String, NodeId>,
    depth: usize,
}

const TYPES: [&str; 7] = [
    "null", "boolean", "object", "array", "number", "integer", "string",
];

impl Compiler<'_> {
    fn push(&mut self, n: Node) -> NodeId {
        self.nodes.push(n);
        (self.nodes.len() - 1) as NodeId
    }

    fn node(&mut self, s: &Value) -> Result<NodeId> {
        self.depth += 1;
        if self.depth > 64 {
            bail!("the schema nests more than 64 levels");
        }
        let r = self.node_inner(s);
        self.depth -= 1;
        r
    }

    fn node_inner(&mut self, s: &Value) -> Result<NodeId> {
        let obj = match s {
            Value::Bool(true) => return self.any(),
            Value::Bool(false) => bail!("the schema `false` admits no value"),
            Value::Object(m) => m,
            _ => bail!("a schema must be an object or a boolean"),
        };
        for (k, v) in obj {
            // Every JSON key is a string: `propertyNames: {"type": "string"}` (zod's records)
            // asserts nothing.
            let no_op = k == "propertyNames"
                && (*v == Value::Bool(true)
                    || v.as_object().is_some_and(|m| {
                        m.iter().all(|(k, v)| {
                            ANNOTATIONS.contains(&k.as_str()) || (k == "type" && v == "string")
                        })
                    }));
            if !no_op
                && !CARRIED.contains(&k.as_str())
                && !ANNOTATIONS.contains(&k.as_str())
                && !k.starts_with("x-")
            {
                bail!("the JSON Schema keyword `{k}` is not supported by constrained decoding");
            }
        }
        if let Some(r) = obj.get("$ref") {
            let r = r
                .as_str()
                .ok_or_else(|| anyhow!("`$ref` must be a string"))?;
            if obj
                .keys()
                .any(|k| CARRIED.contains(&k.as_str()) && k != "$ref")
            {
                bail!("`$ref` beside other assertions is not supported by constrained decoding");
            }
            return self.reference(r);
        }
        if let Some(all) = obj.get("allOf") {
            match all.as_array().map(Vec::as_slice) {
                Some([one])
                    if obj
                        .keys()
                        .all(|k| k == "allOf" || !CARRIED.contains(&k.as_str())) =>
                {
                    return self.node(one)
                }
                _ => bail!("`allOf` is supported only with a single schema and nothing beside it"),
            }
        }
        self.node_of(obj)
    }

    fn node_of(&mut self, obj: &Map<String, Value>) -> Result<NodeId> {
        for key in ["anyOf", "oneOf"] {
            if let Some(alts) = obj.get(key) {
                let alts = alts
                    .as_array()
                    .filter(|a| !a.is_empty())
                    .ok_or_else(|| anyhow!("`{key}` must be a non-empty array"))?;
                if obj
                    .keys()
                    .any(|k| CARRIED.contains(&k.as_str()) && k != key)
                {
                    bail!(
                        "`{key}` beside other assertions is not supported by constrained decoding"
                    );
                }
                let ids = alts
                    .iter()
                    .map(|a| self.node(a))
                    .collect::<Result<Vec<_>>>()?;
                if key == "oneOf" && !self.discriminated(&ids) {
                    self.check_disjoint(&ids)?;
                }
                return Ok(self.push(Node::Union(ids)));
            }
        }
        let types: Vec<&str> = match obj.get("type") {
            None => Vec::new(),
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(a)) => a
                .iter()
                .map(|t| {
                    t.as_str()
                        .ok_or_else(|| anyhow!("`type` entries must be strings"))
                })
                .collect::<Result<_>>()?,
            Some(_) => bail!("`type` must be a string or an array of strings"),
        };
        for t in &types {
            if !TYPES.contains(t) {
                bail!("unknown type {t:?}");
            }
        }
        if let Some(values) = obj
            .get("enum")
            .map(|e| {
                e.as_array()
                    .cloned()
                    .ok_or_else(|| anyhow!("`enum` must be an array"))
            })
            .transpose()?
            .or_else(|| obj.get("const").map(|c| vec![c.clone()]))
        {
            let mut lits: Vec<Vec<u8>> = values
                .iter()
                .filter(|v| types.is_empty() || types.iter().any(|t| type_matches(t, v)))
                .map(|v| {
                    let mut out = Vec::new();
                    write_json(v, &mut out);
                    out
                })
                .collect();
            lits.sort();
            lits.dedup();
            if lits.is_empty() {
                bail!("`enum` has no value of the schema's type");
            }
            return Ok(self.push(Node::Lit(lits)));
        }
        let mut inferred: Vec<&str> = if !types.is_empty() {
            types
        } else if obj.contains_key("properties") || obj.contains_key("additionalProperties") {
            vec!["object"]
        } else if obj.contains_key("items") {
            vec!["array"]
        } else {
            vec!["null", "boolean", "object", "array", "number", "string"]
        };
        // Numbers include integers.
        if inferred.contains(&"number") {
            inferred.retain(|t| *t != "integer");
        }
        inferred.dedup();
        let mut ids = Vec::new();
        for t in &inferred {
            ids.push(self.typed(t, obj)?);
        }
        Ok(match ids.as_slice() {
            [one] => *one,
            _ => self.push(Node::Union(ids)),
        })
    }

    fn typed(&mut self, t: &str, obj: &Map<String, Value>) -> Result<NodeId> {
        let uint = |k: &str| -> Result<Option<u32>> {
            match obj.get(k) {
                None => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(|n| Some(n.min(u64::from(u32::MAX)) as u32))
                    .ok_or_else(|| anyhow!("`{k}` must be a non-negative integer")),
            }
        };
        Ok(match t {
            "null" => self.push(Node::Lit(vec![b"null".to_vec()])),
            "boolean" => self.push(Node::Lit(vec![b"false".to_vec(), b"true".to_vec()])),
            "string" => {
                let min = uint("minLength")?.unwrap_or(0);
                let max = uint("maxLength")?;
                if max.is_some_and(|m| m < min) {
                    bail!("`maxLength` is below `minLength`");
                }
                // A minimum length every match already has is implied by the pattern.
                let implied = |p: &Pattern| max.is_none() && min <= p.dist(p.start());
                match obj.get("pattern") {
                    Some(Value::String(p)) => {
                        let p = Pattern::compile(p)?;
                        if !implied(&p) {
                            bail!(
                                "`pattern` together with `maxLength` (or a `minLength` longer \
                                 than its shortest match) is not supported by constrained decoding"
                            );
                        }
                        self.push(Node::Pat(Arc::new(p)))
                    }
                    Some(_) => bail!("`pattern` must be a string"),
                    // A `format` only annotates: followed when it can be, else a plain string.
                    None => match obj
                        .get("format")
                        .and_then(Value::as_str)
                        .and_then(pattern::format)
                    {
                        Some(p) if implied(&p) => self.push(Node::Pat(p)),
                        _ => self.push(Node::Str { min, max }),
                    },
                }
            }
            "number" | "integer" => {
                let spec = num_spec(t == "integer", obj)?;
                self.push(Node::Num(spec))
            }
            "array" => {
                let min = uint("minItems")?.unwrap_or(0);
                let max = uint("maxItems")?;
                if max.is_some_and(|m| m < min) {
                    bail!("`maxItems` is below `minItems`");
                }
                let items = match obj.get("items") {
                    None => self.any()?,
                    Some(Value::Array(_)) => {
                        bail!(
                            "`items` as an array (tuples) is not supported by constrained decoding"
                        )
                    }
                    Some(s) => self.node(s)?,
                };
                self.push(Node::Arr { items, min, max })
            }
            "object" => self.object(obj)?,
            other => bail!("unknown type {other:?}"),
        })
    }

    fn object(&mut self, obj: &Map<String, Value>) -> Result<NodeId> {
        let required: Vec<&str> = match obj.get("required") {
            None => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .ok_or_else(|| anyhow!("`required` entries must be strings"))
                })
                .collect::<Result<_>>()?,
            Some(_) => bail!("`required` must be an array"),
        };
        let empty = Map::new();
        let props_schema = match obj.get("properties") {
            None => &empty,
            Some(Value::Object(m)) => m,
            Some(_) => bail!("`properties` must be an object"),
        };
        for r in &required {
            if !props_schema.contains_key(*r) {
                bail!("required property {r:?} is not declared in `properties`, which constrained decoding needs");
            }
        }
        if props_schema.len() > MAX_PROPERTIES {
            bail!(
                "objects with more than {MAX_PROPERTIES} properties are not supported by constrained decoding"
            );
        }
        let mut props = Vec::with_capacity(props_schema.len());
        for (name, s) in props_schema {
            let value = self.node(s)?;
            let mut key = Vec::new();
            write_json(&Value::String(name.clone()), &mut key);
            props.push(Prop {
                key,
                value,
                required: required.contains(&name.as_str()),
            });
        }
        let extra = match obj.get("additionalProperties") {
            // Absent: the schema allows extra keys, the grammar writes only declared ones.
            None | Some(Value::Bool(false)) => None,
            Some(Value::Bool(true)) => Some(self.any()?),
            Some(s @ Value::Object(_)) => Some(self.node(s)?),
            Some(_) => bail!("`additionalProperties` must be a boolean or a schema"),
        };
        let declared_hashes = props
            .iter()
            .map(|p| key_hash(&p.key[1..p.key.len() - 1]))
            .collect();
        Ok(self.push(Node::Obj(ObjSpec {
            props,
            extra,
            declared_hashes,
            req_count_from: Vec::new(),
            req_cost_from: Vec::new(),
        })))
    }

    /// Any JSON value: a union of every type, arrays and objects of any values.
    fn any(&mut self) -> Result<NodeId> {
        if let Some(&id) = self.refs.get("\u{0}any") {
            return Ok(id);
        }
        let id = self.push(Node::Union(Vec::new()));
        self.refs.insert("\u{0}any".into(), id);
        let null = self.push(Node::Lit(vec![b"null".to_vec()]));
        let boolean = self.push(Node::Lit(vec![b"false".to_vec(), b"true".to_vec()]));
        let num = self.push(Node::Num(NumSpec {
            integer: false,
            lo: None,
            hi: None,
        }));
        let string = self.push(Node::Str { min: 0, max: None });
        let arr = self.push(Node::Arr {
            items: id,
            min: 0,
            max: None,
        });
        let obj = self.push(Node::Obj(ObjSpec {
            props: Vec::new(),
            extra: Some(id),
            declared_hashes: Vec::new(),
            req_count_from: Vec::new(),
            req_cost_from: Vec::new(),
        }));
        self.nodes[id as usize] = Node::Union(vec![null, boolean, num, string, arr, obj]);
        Ok(id)
    }

    fn reference(&mut self, r: &str) -> Result<NodeId> {
        if let Some(&id) = self.refs.get(r) {
            return Ok(id);
        }
        let pointer = r
            .strip_prefix('#')
            .ok_or_else(|| anyhow!("only local `$ref`s (`#/...`) are supported, not {r:?}"))?;
        let target = self
            .root
            .pointer(pointer)
            .ok_or_else(|| anyhow!("`$ref` {r:?} points at nothing"))?;
        // A placeholder first, so that recursive references find it.
        let id = self.push(Node::Union(Vec::new()));
        self.refs.insert(r.to_string(), id);
        let inner = self.node(target)?;
        if inner == id {
            bail!("`$ref` {r:?} refers to itself");
        }
        self.nodes[id as usize] = Node::Union(vec![inner]);
        Ok(id)
    }

    /// Whether the alternatives are objects that one required property tells apart, with a
    /// different single value in each (zod's `discriminatedUnion`, pydantic's discriminated
    /// unions): then no document matches two of them.
    fn discriminated(&self, ids: &[NodeId]) -> bool {
        let Some(objs) = ids
            .iter()
            .map(|&id| self.obj_behind(id))
            .collect::<Option<Vec<_>>>()
        else {
            return false;
        };
        let Some(first) = objs.first() else {
            return false;
        };
        first.props.iter().any(|p| {
            let mut values: Vec<&[u8]> = Vec::new();
            objs.iter().all(|o| {
                o.props.iter().find(|q| q.key == p.key).is_some_and(|q| {
                    match &self.nodes[q.value as usize] {
                        Node::Lit(items) if q.required && items.len() == 1 => {
                            let v = items[0].as_slice();
                            let new = !values.contains(&v);
                            values.push(v);
                            new
                        }
                        _ => false,
                    }
                })
            })
        })
    }

    /// The object schema `id` is, through `$ref` wrappers.
    fn obj_behind(&self, mut id: NodeId) -> Option<&ObjSpec> {
        for _ in 0..64 {
            match &self.nodes[id as usize] {
                Node::Obj(o) => return Some(o),
                Node::Union(v) if v.len() == 1 => id = v[0],
                _ => return None,
            }
        }
        None
    }

    /// `oneOf` is generated as `anyOf`, which is right only when no document matches two
    /// alternatives; this accepts alternatives whose first bytes differ.
    fn check_disjoint(&self, ids: &[NodeId]) -> Result<()> {
        let mut seen = [false; 256];
        for &id in ids {
            let mut first = [false; 256];
            self.first_bytes(id, &mut first, 0);
            for b in 0..256 {
                if first[b] && seen[b] {
                    bail!("`oneOf` with alternatives that can start alike is not supported by constrained decoding (use `anyOf`)");
                }
            }
            for b in 0..256 {
                seen[b] |= first[b];
            }
        }
        Ok(())
    }

    fn first_bytes(&self, id: NodeId, out: &mut [bool; 256], depth: usize) {
        if depth > 64 {
            return;
        }
        match &self.nodes[id as usize] {
            Node::Lit(items) => {
                for i in items {
                    if let Some(&b) = i.first() {
                        out[b as usize] = true;
                    }
                }
            }
            Node::Str { .. } | Node::Pat(_) => out[b'"' as usize] = true,
            Node::Num(_) => {
                for b in b"-0123456789" {
                    out[*b as usize] = true;
                }
            }
            Node::Arr { .. } => out[b'[' as usize] = true,
            Node::Obj(_) => out[b'{' as usize] = true,
            Node::Union(alts) => {
                for &a in alts {
                    self.first_bytes(a, out, depth + 1);
                }
            }
        }
    }
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        "integer" => {
            v.as_i64().is_some()
                || v.as_u64().is_some()
                || v.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "string" => v.is_string(),
        _ => false,
    }
}

fn num_spec(integer: bool, obj: &Map<String, Value>) -> Result<NumSpec> {
    let num = |k: &str| -> Result<Option<f64>> {
        match obj.get(k) {
            None | Some(Value::Bool(_)) => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Some)
                .ok_or_else(|| anyhow!("`{k}` must be a number")),
        }
    };
    let flag = |k: &str| obj.get(k).and_then(Value::as_bool) == Some(true);
    // Draft 4: exclusiveMinimum/Maximum are booleans modifying minimum/maximum; later drafts:
    // numbers of their own. The tighter bound wins when both are given.
    let mut lo = num("minimum")?.map(|value| Bound {
        value,
        exclusive: flag("exclusiveMinimum"),
    });
    if let Some(x) = num("exclusiveMinimum")? {
        if lo.is_none_or(|b| x >= b.value) {
            lo = Some(Bound {
                value: x,
                exclusive: true,
            });
        }
    }
    let mut hi = num("maximum")?.map(|value| Bound {
        value,
        exclusive: flag("exclusiveMaximum"),
    });
    if let Some(x) = num("exclusiveMaximum")? {
        if hi.is_none_or(|b| x <= b.value) {
            hi = Some(Bound {
                value: x,
                exclusive: true,
            });
        }
    }
    // A bounded number is kept to 15 digits, no exponent: |v| ≤ CAP. A bound beyond that on the
    // far side (zod writes ±(2^53 − 1) for every `.int()`) is implied, and clamped to CAP it
    // generates the same numbers; one on the near side leaves nothing to generate.
    const CAP: f64 = 999_999_999_999_999.0;
    if lo.is_some_and(|b| b.value > CAP) || hi.is_some_and(|b| b.value < -CAP) {
        bail!("number bounds beyond ±1e15 are not supported by constrained decoding");
    }
    let clamp = |value| Bound {
        value,
        exclusive: false,
    };
    if lo.is_some_and(|b| b.value < -CAP) {
        lo = Some(clamp(-CAP));
    }
    if hi.is_some_and(|b| b.value > CAP) {
        hi = Some(clamp(CAP));
    }
    let spec = NumSpec { integer, lo, hi };
    if crate::constrain::machine::num_min_len(&spec) >= FAR {
        bail!("no number satisfies the bounds");
    }
    Ok(spec)
}

/// Writes `v` in the grammar's layout: separators `", "` and `": "`, strings escaping only
/// `"`, `\` and control characters.
pub fn write_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => write_str(s, out),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(ITEM_SEP);
                }
                write_json(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(ITEM_SEP);
                }
                write_str(k, out);
                out.extend_from_slice(KEY_SEP);
                write_json(x, out);
            }
            out.push(b'}');
        }
    }
}

pub fn write_str(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}
