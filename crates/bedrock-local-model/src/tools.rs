//! How tools, tool calls and tool results are written into a chat prompt.
//!
//! Two layouts, both with the call as `{"name": …, "arguments": {…}}` between `<tool_call>`
//! tags and results in a user turn:
//!
//! - [`ToolFormat::Hermes`], for GGUF chat templates that have their own tool format of this kind
//!   (Qwen 2.5 and other Hermes-style templates: the template mentions `<tool_call>`): one call
//!   per `<tool_call>\n{…}\n</tool_call>`, results between `<tool_response>` tags, tools
//!   listed one JSON object per line inside `<tools></tools>`, worded as the Qwen 2.5 template
//!   words it.
//! - [`ToolFormat::SmolLm2`], for every other template. SmolLM2's GGUF template has no tool
//!   section (its `tokenizer.chat_template` only writes role and content), so this is a textual
//!   rendering: the layout SmolLM2-Instruct was tuned on for function calling, as Ollama's
//!   `smollm2` template writes it (system text "You are an expert in composing functions…",
//!   `<tools>[…]</tools>`, calls as `<tool_call>[\n{…}\n]</tool_call>`), reworded so that the
//!   model may also answer in text when the tool choice is `auto`. Results are a user turn in
//!   plain words ("The tool returned: …"): the 135M model answers from those, while after
//!   Ollama's `<tool_response>` tags it mostly echoes them or writes code.

use bedrock_families::{Part, ToolCall, ToolChoice, ToolResult, ToolSpec};
use serde_json::{json, Value};

use crate::constrain::write_json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFormat {
    SmolLm2,
    Hermes,
}

impl ToolFormat {
    /// From the file's chat template.
    pub fn detect(template: Option<&str>) -> ToolFormat {
        match template {
            Some(t) if t.contains("<tool_call>") && t.contains("tools") => ToolFormat::Hermes,
            _ => ToolFormat::SmolLm2,
        }
    }

    /// What the assistant writes before a call's JSON.
    pub fn opener(self) -> &'static str {
        match self {
            ToolFormat::SmolLm2 => "<tool_call>[\n",
            ToolFormat::Hermes => "<tool_call>\n",
        }
    }

    /// The instructions and tool list added to the system prompt. `choice` is not `None`.
    pub fn system_text(self, tools: &[ToolSpec], choice: &ToolChoice) -> String {
        let list: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut f = serde_json::Map::new();
                f.insert("name".into(), Value::String(t.name.clone()));
                if let Some(d) = &t.description {
                    f.insert("description".into(), Value::String(d.clone()));
                }
                f.insert("parameters".into(), t.input_schema.clone());
                Value::Object(f)
            })
            .collect();
        let must = match choice {
            ToolChoice::Tool(name) => format!("You must call the tool {name}."),
            ToolChoice::Any => "You must call one of the tools.".to_string(),
            _ => {
                "If none of the tools fits the question, answer it directly in plain text instead."
                    .to_string()
            }
        };
        match self {
            ToolFormat::SmolLm2 => {
                let mut tools_json = Vec::new();
                write_json(&Value::Array(list), &mut tools_json);
                format!(
                    "You are an expert in composing functions. You are given a question and a set of possible functions.\n\
                     Based on the question, you will need to make a function/tool call to achieve the purpose.\n\
                     You have access to the following tools:\n<tools>{}</tools>\n\
                     To call a tool, answer with only this format, and no other text:\n\
                     <tool_call>[\n{{\"name\": \"func_name1\", \"arguments\": {{\"argument1\": \"value1\", \"argument2\": \"value2\"}}}}\n]</tool_call>\n{must}",
                    String::from_utf8_lossy(&tools_json)
                )
            }
            ToolFormat::Hermes => {
                let mut lines = String::new();
                for t in list {
                    let mut one = Vec::new();
                    write_json(&json!({"type": "function", "function": t}), &mut one);
                    lines.push('\n');
                    lines.push_str(&String::from_utf8_lossy(&one));
                }
                format!(
                    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n\
                     You are provided with function signatures within <tools></tools> XML tags:\n<tools>{lines}\n</tools>\n\n\
                     For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n\
                     <tool_call>\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n</tool_call>\n{must}"
                )
            }
        }
    }

    /// An assistant turn's calls, as the model would have written them.
    pub fn calls(self, calls: &[&ToolCall]) -> String {
        // "name" first, as the model writes it (a `json!` object would sort "arguments" first).
        let one = |c: &ToolCall| {
            let mut s = b"{\"name\": ".to_vec();
            write_json(&Value::String(c.name.clone()), &mut s);
            s.extend_from_slice(b", \"arguments\": ");
            write_json(&c.input, &mut s);
            s.push(b'}');
            String::from_utf8_lossy(&s).into_owned()
        };
        match self {
            ToolFormat::SmolLm2 => {
                let body: Vec<String> = calls.iter().map(|c| one(c)).collect();
                format!("<tool_call>[\n{}\n]</tool_call>", body.join(",\n"))
            }
            ToolFormat::Hermes => calls
                .iter()
                .map(|c| format!("<tool_call>\n{}\n</tool_call>", one(c)))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// A tool result, as the text of a user turn.
    pub fn result(self, r: &ToolResult) -> String {
        let mut body = String::new();
        for p in &r.content {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(&part_text(p));
        }
        if r.is_error {
            body = format!("Error: {body}");
        }
        match self {
            // SmolLM2's template has no tool format; the 135M model answers from a result
            // written as plain words, and mostly echoes `<tool_response>` tags or writes code
            // after them (tried on the weather conversation of tests/constrained.rs).
            ToolFormat::SmolLm2 => format!(
                "The tool returned: {body}\nUse this result to answer my question in one sentence."
            ),
            ToolFormat::Hermes => format!("<tool_response>\n{body}\n</tool_response>"),
        }
    }
}

/// A part as text for a text-only model.
fn part_text(p: &Part) -> String {
    match p {
        Part::Text(t) => t.clone(),
        Part::Json(v) => {
            let mut out = Vec::new();
            write_json(v, &mut out);
            String::from_utf8_lossy(&out).into_owned()
        }
        Part::Document(d) => match &d.source {
            bedrock_families::Source::Text(t) => format!("[document {}]\n{t}", d.name),
            _ => format!("[document {} not readable by this model]", d.name),
        },
        Part::Image(m) => format!("[{} image not viewable by this model]", m.format),
        Part::Video(m) => format!("[{} video not viewable by this model]", m.format),
        Part::ToolUse(_) | Part::ToolResult(_) | Part::Reasoning(_) => String::new(),
    }
}

/// The text of a turn: its text parts as before, then tool calls (assistant) or tool results
/// (user) in `format`. A turn of text parts only reads exactly as `Turn::text`.
pub fn turn_text(t: &bedrock_families::Turn, format: ToolFormat) -> String {
    let mut out = String::new();
    let calls: Vec<&ToolCall> = t
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolUse(c) => Some(c),
            _ => None,
        })
        .collect();
    for p in &t.content {
        match p {
            Part::Text(s) => out.push_str(s),
            Part::ToolResult(r) => {
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                out.push_str(&format.result(r));
            }
            _ => {}
        }
    }
    if !calls.is_empty() {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format.calls(&calls));
    }
    out
}
