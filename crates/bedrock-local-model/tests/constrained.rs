//! Tool calls, the `auto` choice and JSON answers from the default model (SmolLM2-135M-Instruct
//! Q4_1), each output checked with the `jsonschema` crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::ControlFlow;
use std::sync::OnceLock;

use bedrock_families::{
    Part, Prompt, Role, Sampling, StopReason, ToolCall, ToolChoice, ToolResult, ToolSpec, Turn,
};
use bedrock_local_model::{fetch, EmbeddedModel, Generation, Piece, DEFAULT_SEED};
use serde_json::{json, Value};

fn model() -> &'static EmbeddedModel {
    static MODEL: OnceLock<EmbeddedModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let path = fetch::resolve_model(None, false).expect("fetching the default model");
        EmbeddedModel::load(&path).expect("loading the default model")
    })
}

fn greedy(max_tokens: u32) -> Sampling {
    Sampling {
        max_tokens: Some(max_tokens),
        temperature: Some(0.0),
        ..Sampling::default()
    }
}

fn tools_file() -> Vec<Value> {
    serde_json::from_str(include_str!("data/tool_schemas.json")).unwrap()
}

fn spec(t: &Value) -> ToolSpec {
    ToolSpec {
        name: t["name"].as_str().unwrap().to_string(),
        description: t["description"].as_str().map(String::from),
        input_schema: t["input_schema"].clone(),
    }
}

#[derive(Default, Debug)]
struct Events {
    text: String,
    tool: Option<String>,
    input: String,
    /// Fragments of input received.
    fragments: usize,
    order_ok: bool,
}

fn run(prompt: &Prompt, sampling: &Sampling) -> (Events, Generation) {
    let mut e = Events {
        order_ok: true,
        ..Events::default()
    };
    let g = model()
        .generate_events(prompt, sampling, DEFAULT_SEED, &mut |p| {
            match p {
                Piece::Text(s) => {
                    e.order_ok &= e.tool.is_none();
                    e.text.push_str(s);
                }
                Piece::ToolUse { name } => {
                    e.order_ok &= e.tool.is_none();
                    e.tool = Some(name.to_string());
                }
                Piece::ToolInput(s) => {
                    e.order_ok &= e.tool.is_some();
                    e.input.push_str(s);
                    e.fragments += 1;
                }
            }
            ControlFlow::Continue(())
        })
        .expect("generation");
    (e, g)
}

fn valid(schema: &Value, text: &str) -> bool {
    // Formats are checked, except where a `pattern` stands beside one (zod writes both): the
    // pattern is what is followed, the format only annotates.
    fn both(s: &Value) -> bool {
        s.get("pattern").is_some() && s.get("format").is_some()
            || s.as_object().is_some_and(|m| m.values().any(both))
            || s.as_array().is_some_and(|a| a.iter().any(both))
    }
    let v = jsonschema::options()
        .should_validate_formats(!both(schema))
        .build(schema)
        .unwrap();
    serde_json::from_str::<Value>(text).is_ok_and(|x| v.is_valid(&x))
}

#[test]
fn forced_tool_calls_follow_every_schema_and_stream_as_fragments() {
    let tools = tools_file();
    assert!(tools.len() >= 20);
    for t in &tools {
        let s = spec(t);
        let mut prompt = Prompt::user(t["prompt"].as_str().unwrap());
        prompt.tools = vec![s.clone()];
        prompt.tool_choice = ToolChoice::Tool(s.name.clone());
        // The last two schemas (uuids, dates) need more than 60 tokens for their smallest call;
        // at 160 that call has more bytes than tokens, so it is finished by making progress at
        // every token.
        let budget = t["max_tokens"].as_u64().map_or(60, |m| m as u32);
        let (e, g) = run(&prompt, &greedy(budget));
        assert!(e.order_ok, "{}: events out of order", s.name);
        assert_eq!(g.stop, StopReason::ToolUse, "{}: {e:?}", s.name);
        assert_eq!(e.tool.as_deref(), Some(s.name.as_str()));
        let call = g.tool_use.as_ref().unwrap();
        assert_eq!(call.name, s.name);
        assert_eq!(call.input, e.input, "{}: streamed input differs", s.name);
        // Streamed in pieces, unless the arguments are a token or two (`{}`).
        assert!(
            e.fragments >= 2 || e.input.len() <= 3,
            "{}: input not streamed in pieces",
            s.name
        );
        assert!(valid(&s.input_schema, &e.input), "{}: {}", s.name, e.input);
        assert!(e.text.is_empty());
        assert!(g.output_tokens <= budget);
        let c = g.constraint;
        assert!(c.sampled > 0 && c.masks_computed + c.masks_cached >= c.sampled);
    }
}

#[test]
fn a_tight_budget_still_closes_the_call() {
    // web_search's query runs on with this model; the budget closes the string and the call.
    let t = &tools_file()[1];
    let s = spec(t);
    let mut prompt = Prompt::user(t["prompt"].as_str().unwrap());
    prompt.tools = vec![s.clone()];
    prompt.tool_choice = ToolChoice::Any;
    for max in [24, 31, 40] {
        let (e, g) = run(&prompt, &greedy(max));
        assert_eq!(g.stop, StopReason::ToolUse, "max {max}: {e:?}");
        assert!(
            g.output_tokens <= max,
            "max {max}: {} tokens",
            g.output_tokens
        );
        assert!(valid(&s.input_schema, &e.input), "max {max}: {}", e.input);
    }
}

#[test]
fn any_picks_one_of_the_tools_and_follows_its_schema() {
    let tools = tools_file();
    let specs: Vec<ToolSpec> = [0, 2, 11].iter().map(|&i| spec(&tools[i])).collect();
    for (q, _) in [
        ("What is 7 times 6?", ()),
        ("Wake me up at 7:30 tomorrow.", ()),
    ] {
        let mut prompt = Prompt::user(q);
        prompt.tools = specs.clone();
        prompt.tool_choice = ToolChoice::Any;
        let (e, g) = run(&prompt, &greedy(80));
        assert_eq!(g.stop, StopReason::ToolUse, "{q}: {e:?}");
        let name = e.tool.clone().unwrap();
        let s = specs.iter().find(|s| s.name == name).expect("a known tool");
        assert!(valid(&s.input_schema, &e.input), "{q}: {name} {}", e.input);
    }
}

/// The weather conversation after its tool result, the assistant's answer and a new question.
fn weather_follow_up(question: &str) -> Prompt {
    let mut p = weather_after_result();
    p.turns.push(Turn::new(
        Role::Assistant,
        "It is 21 degrees and sunny in Paris.",
    ));
    p.turns.push(Turn::new(Role::User, question));
    p
}

fn weather_after_result() -> Prompt {
    Prompt {
        turns: vec![
            Turn::new(Role::User, "What is the weather in Paris?"),
            Turn {
                role: Role::Assistant,
                content: vec![Part::ToolUse(ToolCall {
                    id: "t1".into(),
                    name: "get_weather".into(),
                    input: json!({"city": "Paris"}),
                })],
            },
            Turn {
                role: Role::User,
                content: vec![Part::ToolResult(ToolResult {
                    tool_use_id: "t1".into(),
                    is_error: false,
                    content: vec![Part::Json(json!({"temperature_c": 21, "sky": "sunny"}))],
                })],
            },
        ],
        tools: vec![spec(&tools_file()[0])],
        tool_choice: ToolChoice::Auto,
        ..Prompt::default()
    }
}

#[test]
fn auto_is_a_choice_between_a_call_and_text() {
    let weather = spec(&tools_file()[0]);
    let mut seen = (false, false);
    let mut prompts = Vec::new();
    for q in [
        "What is the weather like in Paris right now?",
        "Write a haiku about the sea.",
    ] {
        let mut prompt = Prompt::user(q);
        prompt.tools = vec![weather.clone()];
        prompts.push((q.to_string(), prompt));
    }
    let q = "And what is the weather in Rome?";
    prompts.push((q.to_string(), weather_follow_up(q)));
    for (q, prompt) in &prompts {
        let (e, g) = run(prompt, &greedy(80));
        assert!(e.order_ok);
        match g.stop {
            StopReason::ToolUse => {
                seen.0 = true;
                assert_eq!(e.tool.as_deref(), Some("get_weather"));
                assert!(valid(&weather.input_schema, &e.input), "{q}: {}", e.input);
                assert!(e.text.is_empty(), "{q}: text before the call: {:?}", e.text);
                assert_eq!(g.tool_use.as_ref().unwrap().input, e.input);
            }
            _ => {
                seen.1 = true;
                assert!(e.tool.is_none() && g.tool_use.is_none());
                assert!(!e.text.trim().is_empty(), "{q}: empty answer");
                assert!(!e.text.contains("<tool_call>"), "{q}: {}", e.text);
            }
        }
    }
    // The model makes both choices on these prompts (greedy, so this is stable).
    assert!(seen.0, "no prompt led to a tool call");
    assert!(seen.1, "no prompt led to a text answer");
}

#[test]
fn json_answers_follow_the_output_schema() {
    let schema = json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 40},
            "age": {"type": "integer", "minimum": 0, "maximum": 120},
            "hobbies": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
        },
        "required": ["name", "age"],
        "additionalProperties": false
    });
    for (q, max) in [
        ("Invent a person and describe them.", 80),
        ("Describe a chef.", 20),
    ] {
        let mut prompt = Prompt::user(q);
        prompt.output_schema = Some(schema.clone());
        let (e, g) = run(&prompt, &greedy(max));
        assert_eq!(g.stop, StopReason::EndTurn, "{q}: {e:?}");
        assert!(g.tool_use.is_none());
        assert!(valid(&schema, &e.text), "{q}: {}", e.text);
    }
    // A JSON answer under `auto` with tools: a valid call or a valid answer.
    let mut prompt = Prompt::user("Tell me about a person named Ana, aged 30.");
    prompt.output_schema = Some(schema.clone());
    prompt.tools = vec![spec(&tools_file()[0])];
    let (e, g) = run(&prompt, &greedy(80));
    if g.stop == StopReason::ToolUse {
        assert!(
            valid(&tools_file()[0]["input_schema"], &e.input),
            "{}",
            e.input
        );
    } else {
        assert!(valid(&schema, &e.text), "{}", e.text);
    }
}

#[test]
fn tool_results_are_read_in_the_tool_format_and_answered() {
    let prompt = weather_after_result();
    let text = model().detokenize(&model().prompt_tokens(&prompt));
    assert!(
        text.contains("<tool_call>[\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n]</tool_call>"),
        "{text}"
    );
    assert!(
        text.contains("The tool returned: {\"sky\": \"sunny\", \"temperature_c\": 21}\n"),
        "{text}"
    );
    // Greedy, this model calls get_weather for Paris again: that repeat is dropped and the
    // answer is generated as text.
    let (e, g) = run(&prompt, &greedy(60));
    assert_ne!(g.stop, StopReason::ToolUse, "called again: {e:?}");
    assert!(e.tool.is_none() && g.tool_use.is_none(), "{e:?}");
    let answer = e.text.to_lowercase();
    assert!(
        answer.contains("21") || answer.contains("sunny"),
        "the answer does not use the result: {answer}"
    );
}

#[test]
fn unsupported_schemas_and_unknown_tools_are_refused_before_generating() {
    let mut prompt = Prompt::user("hi");
    prompt.tools = vec![ToolSpec {
        name: "t".into(),
        description: None,
        input_schema: json!({"type": "object", "properties": {"a": {"type": "integer", "multipleOf": 3}}}),
    }];
    let e = model().check(&prompt).unwrap_err();
    assert!(format!("{e:#}").contains("multipleOf"), "{e:#}");
    prompt.tools[0].input_schema = json!({"type": "object"});
    prompt.tool_choice = ToolChoice::Tool("other".into());
    let e = model().check(&prompt).unwrap_err();
    assert!(format!("{e:#}").contains("other"), "{e:#}");
    prompt.tool_choice = ToolChoice::Tool("t".into());
    model().check(&prompt).unwrap();
}

#[test]
fn plain_prompts_read_the_same_through_both_apis() {
    let prompt = Prompt::user("Write a haiku about the sea.");
    let mut a = String::new();
    let ga = model()
        .generate(&prompt, &greedy(40), &mut |p| {
            a.push_str(p);
            ControlFlow::Continue(())
        })
        .unwrap();
    let (e, gb) = run(&prompt, &greedy(40));
    assert_eq!(a, e.text);
    assert_eq!(ga.output_tokens, gb.output_tokens);
    assert_eq!(ga.stop, gb.stop);
    assert_eq!(gb.constraint.sampled, 0);
}
