//! Tests against the default model (SmolLM2-135M-Instruct, Q4_1). The file is found through
//! `$BEDROCK_STREAM_MODEL`, else `fetch::default_model_path()`, fetching it first if absent.
//!
//! Reference token ids below were produced by llama.cpp itself (node-llama-cpp 3.22.1 on the
//! same file: `model.tokenize(text, false)` for plain text, and the `--greedy` mode of
//! `bench/llama-cpp.mjs` for prompts and greedy continuations), not by this crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::ops::ControlFlow;
use std::sync::OnceLock;

use bedrock_families::{Prompt, Role, Sampling, StopReason, Turn};
use bedrock_local_model::{fetch, EmbeddedModel, Generation, LoadOptions};

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

fn run(prompt: &Prompt, sampling: &Sampling) -> (Vec<String>, Generation) {
    let mut pieces = Vec::new();
    let g = model()
        .generate(prompt, sampling, &mut |p| {
            pieces.push(p.to_string());
            ControlFlow::Continue(())
        })
        .expect("generation");
    (pieces, g)
}

/// (text, llama.cpp's ids)
const TOKENIZER_CASES: &[(&str, &[u32])] = &[
    ("Hello world", &[19556, 905]),
    (
        " 12345 apples, isn't it?",
        &[216, 33, 34, 35, 36, 37, 13855, 28, 3247, 982, 357, 47],
    ),
    (
        "héllo wörld 日本語 🦀",
        &[
            88, 2756, 31394, 267, 29989, 400, 17097, 241, 115, 40993, 179, 120, 248, 15107, 116,
            218,
        ],
    ),
    (
        "  leading spaces and trailing  ",
        &[216, 2899, 5600, 284, 35079, 256],
    ),
    (
        "tabs\tand\nnewlines\n\n\nend",
        &[100, 7366, 197, 397, 198, 2241, 5110, 1116, 198, 486],
    ),
    (
        "def f(x):\n    return x**2  # comment",
        &[
            1604, 275, 24, 104, 727, 472, 1003, 1792, 828, 34, 216, 907, 5189,
        ],
    ),
    (
        "I'm sure you'll see they've done it, haven't they? We'D",
        &[
            57, 5248, 2090, 346, 3060, 963, 502, 3543, 2294, 357, 28, 8540, 982, 502, 47, 1046, 23,
            52,
        ],
    ),
    (
        "3.14159 + 2,000,000 = ?",
        &[
            35, 30, 33, 36, 33, 37, 41, 1232, 216, 34, 28, 32, 32, 32, 28, 32, 32, 32, 446, 9148,
        ],
    ),
    (
        "<|im_end|> is not special here",
        &[44, 108, 306, 79, 486, 108, 46, 314, 441, 1767, 1535],
    ),
    (
        "Ünïcödé façade naïve coöperate",
        &[
            142, 246, 94, 25972, 83, 7466, 84, 2756, 40852, 15486, 46494, 857, 7466, 38397,
        ],
    ),
    (
        "Привет, мир! Καλημέρα κόσμε",
        &[
            155, 249, 46879, 16464, 32547, 28, 41337, 7872, 9175, 17, 5664, 244, 8998, 17162,
            25723, 16674, 34075, 13583, 8998, 31953, 36180, 18751, 16674, 14240,
        ],
    ),
    (
        "emoji 👩‍👩‍👧‍👦 and flags 🇫🇷🇩🇪",
        &[
            391, 33777, 15107, 235, 119, 321, 231, 10813, 235, 119, 321, 231, 10813, 235, 117, 321,
            231, 10813, 235, 116, 284, 13198, 15107, 225, 121, 10813, 225, 132, 10813, 225, 119,
            10813, 225, 120,
        ],
    ),
    (
        "ALL CAPS SHOUTING!!! ???",
        &[12631, 29146, 67, 334, 21953, 4728, 29646, 9148, 16693],
    ),
    ("a\u{a0}b\u{2003}c", &[81, 15442, 82, 321, 221, 83]),
    (
        "$$$ ### @@@ %%%",
        &[9212, 20, 20749, 3394, 41407, 2471, 22403],
    ),
    ("\n", &[198]),
    ("  ", &[256]),
    ("Hello\r\nWorld\r\n", &[19556, 201, 198, 11265, 2738]),
];

#[test]
fn tokenizer_matches_llama_cpp() {
    let m = model();
    for (text, want) in TOKENIZER_CASES {
        assert_eq!(&m.tokenize(text), want, "{text:?}");
        assert_eq!(m.count_tokens(text), want.len());
    }
    let long = format!("xxx {}", "abc".repeat(20));
    let mut want = vec![46285, 43239];
    want.extend([25276; 19]);
    assert_eq!(m.tokenize(&long), want);
}

#[test]
fn tokenizer_round_trips() {
    let m = model();
    for (text, _) in TOKENIZER_CASES {
        assert_eq!(&m.detokenize(&m.tokenize(text)), text);
    }
    // Pseudo-random text over ASCII, Latin-1, CJK, emoji and whitespace.
    let alphabet: Vec<char> = "aZ09 \n\t.,'-éßøñ日本語中文한국👍🦀\u{200d}\u{a0}Ωπ"
        .chars()
        .collect();
    let mut seed = 12345u64;
    for _ in 0..50 {
        let s: String = (0..40)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[(seed >> 33) as usize % alphabet.len()]
            })
            .collect();
        assert_eq!(m.detokenize(&m.tokenize(&s)), s);
    }
    assert_eq!(m.count_tokens(""), 0);
}

const CAPITAL_PROMPT: &[u32] = &[
    1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407,
    19712, 8182, 2, 198, 1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531,
    198,
];

#[test]
fn chat_prompt_matches_the_template_rendered_by_llama_cpp() {
    // SmolLM2's template adds its default system prompt when the chat has none.
    let m = model();
    assert_eq!(
        m.prompt_tokens(&Prompt::user("What is the capital of France?")),
        CAPITAL_PROMPT
    );
    // With a system prompt of our own, and a user text that spells a control token.
    let p = Prompt {
        system: Some("Be brief.".into()),
        turns: vec![Turn::new(Role::User, "<|im_end|>")],
        ..Prompt::default()
    };
    let ids = m.prompt_tokens(&p);
    let mut want = vec![1, 9690, 198];
    want.extend(m.tokenize("Be brief."));
    want.extend([2, 198, 1, 4093, 198]);
    want.extend(m.tokenize("<|im_end|>"));
    want.extend([2, 198, 1, 520, 9531, 198]);
    assert_eq!(ids, want);
    let im_end = ids.iter().filter(|&&t| t == 2).count();
    assert_eq!(im_end, 2, "user text must not become <|im_end|>");
}

/// Teacher-forced comparison with llama.cpp's greedy continuation: at each position our most
/// likely token is the reference's, or the two are a near tie (quantised arithmetic differs in
/// rounding between the engines, so exact agreement at every near tie is not expected).
#[test]
fn next_token_choices_agree_with_llama_cpp() {
    let m = model();
    let cases: &[(&str, &[u32])] = &[
        (
            "Write a haiku about the sea.",
            &[
                504, 6147, 282, 260, 5065, 28, 253, 13879, 6122, 28, 198, 49, 9154, 303, 5082, 282,
                260, 10393, 28, 198, 49, 13151, 282, 260, 4749, 924, 282, 260, 3426, 28, 198, 49,
                1379, 837, 10074, 359, 3988, 30, 2,
            ],
        ),
        (
            "Give me three tips for staying healthy.",
            &[
                33, 30, 13138, 22892, 42, 26883, 418, 2124, 216, 40, 13645, 282, 913, 567, 1194,
                28, 527, 314, 5183, 288, 724, 469, 1248, 2951, 2458, 30, 1116, 34, 30, 16478, 253,
                8609, 2714, 42, 330, 2714, 338, 2978, 253, 3175,
            ],
        ),
    ];
    let mut total = 0;
    let mut agree = 0;
    for (text, reference) in cases {
        let prompt = m.prompt_tokens(&Prompt::user(*text));
        let mut tokens = prompt.clone();
        tokens.extend_from_slice(&reference[..reference.len() - 1]);
        let all = m.logits_along(&tokens, prompt.len()).unwrap();
        assert_eq!(all.len(), reference.len());
        for (i, (logits, &r)) in all.iter().zip(reference.iter()).enumerate() {
            let ours = argmax(logits);
            let margin = logits[ours] - logits[r as usize];
            assert!(
                margin < 0.3,
                "{text:?} token {i}: ours {ours}, llama.cpp {r}, margin {margin}"
            );
            total += 1;
            agree += usize::from(ours == r as usize);
        }
    }
    assert!(
        agree * 100 >= total * 85,
        "only {agree} of {total} choices agree"
    );
}

#[test]
fn batched_prefill_equals_token_by_token() {
    let m = model();
    let tokens = m.prompt_tokens(&Prompt::user("Tell me about the moon."));
    let a = m.logits(&tokens, false).unwrap();
    let b = m.logits(&tokens, true).unwrap();
    assert_eq!(argmax(&a), argmax(&b));
    let max_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(max_diff < 1e-3, "{max_diff}");
}

/// The forward pass splits its work by thread count; the numbers must not depend on it (each
/// row's sum is computed by one kernel call in a fixed order, whoever runs it).
#[test]
fn thread_count_does_not_change_the_logits() {
    let path = fetch::resolve_model(None, false).unwrap();
    let tokens = model().prompt_tokens(&Prompt::user("Tell me about the moon."));
    let want = model().logits_along(&tokens, tokens.len() - 3).unwrap();
    for threads in [1, 3] {
        let m = EmbeddedModel::load_with(
            &path,
            &LoadOptions {
                threads: Some(threads),
                ..LoadOptions::default()
            },
        )
        .unwrap();
        let got = m.logits_along(&tokens, tokens.len() - 3).unwrap();
        assert!(want == got, "{threads} threads gave other logits");
    }
}

fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

#[test]
fn greedy_generation_is_deterministic_and_consistent() {
    let prompt = Prompt::user("Write a haiku about the sea.");
    let (pieces, g) = run(&prompt, &greedy(64));
    let text = pieces.concat();
    assert!(!text.trim().is_empty());
    assert!(pieces.len() > 5, "streamed in many pieces: {pieces:?}");
    assert!(pieces.iter().all(|p| !p.is_empty()));
    match g.stop {
        StopReason::EndTurn => assert!(g.output_tokens < 64),
        StopReason::MaxTokens => assert_eq!(g.output_tokens, 64),
        ref other => panic!("unexpected stop {other:?}"),
    }
    assert!(!g.cancelled);
    assert_eq!(
        g.input_tokens as usize,
        model().prompt_tokens(&prompt).len()
    );
    let recount = model().count_tokens(&text) as i64;
    assert!(
        (recount - i64::from(g.output_tokens)).abs() <= 2,
        "{} tokens generated, {recount} when re-tokenized",
        g.output_tokens
    );
    assert!(
        text.contains("sea") || text.contains("ocean") || text.contains("waves"),
        "{text}"
    );

    let (again, g2) = run(&prompt, &greedy(64));
    assert_eq!(again.concat(), text);
    assert_eq!(
        g2,
        Generation {
            prompt_time: g2.prompt_time,
            decode_time: g2.decode_time,
            ..g
        }
    );
}

#[test]
fn max_tokens_is_honoured() {
    let (pieces, g) = run(
        &Prompt::user("Tell me a long story about a dragon."),
        &greedy(7),
    );
    assert_eq!(g.stop, StopReason::MaxTokens);
    assert_eq!(g.output_tokens, 7);
    assert!(!pieces.concat().is_empty());
    let (pieces, g) = run(&Prompt::user("Hi"), &greedy(0));
    assert!(pieces.is_empty());
    assert_eq!((g.stop, g.output_tokens), (StopReason::MaxTokens, 0));
}

#[test]
fn stop_sequences_end_generation_without_their_text() {
    let prompt = Prompt::user("Give me three tips for staying healthy.");
    let (pieces, _) = run(&prompt, &greedy(60));
    let full = pieces.concat();
    // Stop at the second list item, a sequence spanning several tokens.
    let stop = "\n\n2.";
    let at = full
        .find(stop)
        .expect("the reference answer has a second item");
    let mut sampling = greedy(60);
    sampling.stop_sequences = vec!["never appears".into(), stop.into()];
    let (pieces, g) = run(&prompt, &sampling);
    assert_eq!(pieces.concat(), &full[..at]);
    assert_eq!(g.stop, StopReason::StopSequence(stop.into()));
    // A stop sequence that only partly matches is released, not swallowed.
    let mut sampling = greedy(60);
    sampling.stop_sequences = vec![format!("{}ZZZ", &full[..at + 3])];
    let (pieces, g) = run(&prompt, &sampling);
    assert_eq!(pieces.concat(), full);
    assert_eq!(g.stop, StopReason::MaxTokens);
}

#[test]
fn cancellation_stops_within_one_token() {
    let mut calls = 0;
    let g = model()
        .generate(
            &Prompt::user("Tell me a long story."),
            &greedy(200),
            &mut |_| {
                calls += 1;
                ControlFlow::Break(())
            },
        )
        .unwrap();
    assert_eq!(calls, 1);
    assert!(g.cancelled);
    assert_eq!(g.stop, StopReason::EndTurn);
    // The first piece arrives with the first token or the one after (a split character).
    assert!(g.output_tokens <= 2, "{}", g.output_tokens);

    // Cancelling later: no token is sampled after the callback that said stop.
    let mut seen = 0;
    let g = model()
        .generate(
            &Prompt::user("Tell me a long story."),
            &greedy(200),
            &mut |_| {
                seen += 1;
                if seen == 10 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        )
        .unwrap();
    assert!(g.cancelled);
    assert_eq!(seen, 10);
    assert!(
        g.output_tokens >= 10 && g.output_tokens <= 12,
        "{}",
        g.output_tokens
    );
}

#[test]
fn multibyte_text_streams_whole_characters() {
    // llama.cpp's greedy answer here starts "L'Étoile, la …": several two-byte characters.
    let (pieces, g) = run(&Prompt::user("What is the capital of France?"), &greedy(30));
    let text = pieces.concat();
    assert!(text.starts_with("L'Étoile"), "{text:?}");
    assert!(!text.contains('\u{fffd}'));
    assert!(text.chars().any(|c| c.len_utf8() > 1));
    assert_eq!(g.output_tokens, 30);

    // Emoji are several byte-level tokens each; the prompt copies them back.
    let p = Prompt::user("Repeat exactly: 🦀🦀🦀 日本語");
    let (pieces, g) = run(&p, &greedy(40));
    assert!(pieces.concat().contains('🦀'), "{pieces:?}");
    for piece in &pieces {
        assert!(!piece.contains('\u{fffd}'), "{pieces:?}");
    }
    // 40 tokens end inside a crab here: the partial character is not sent.
    assert_eq!(g.stop, StopReason::MaxTokens);
}

#[test]
fn sampling_is_reproducible_per_seed() {
    let prompt = Prompt::user("Write a sentence about cats.");
    let s = Sampling {
        max_tokens: Some(24),
        temperature: Some(1.0),
        top_p: Some(0.95),
        top_k: Some(50),
        stop_sequences: vec![],
    };
    let gen = |seed| {
        let mut out = String::new();
        model()
            .generate_seeded(&prompt, &s, seed, &mut |p| {
                out.push_str(p);
                ControlFlow::Continue(())
            })
            .unwrap();
        out
    };
    let a = gen(1);
    assert_eq!(a, gen(1));
    let others: Vec<String> = (2..5).map(gen).collect();
    assert!(
        others.iter().any(|o| *o != a),
        "different seeds should differ"
    );
}

#[test]
fn concurrent_generations_do_not_interfere() {
    let prompts = [
        "Write a haiku about the sea.",
        "Give me three tips for staying healthy.",
    ];
    let solo: Vec<String> = prompts
        .iter()
        .map(|p| run(&Prompt::user(*p), &greedy(24)).0.concat())
        .collect();
    let together: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = prompts
            .iter()
            .map(|p| s.spawn(move || run(&Prompt::user(*p), &greedy(24)).0.concat()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(solo, together);
}

#[test]
fn multi_turn_and_prefilled_assistant_turns() {
    let m = model();
    let p = Prompt {
        system: None,
        turns: vec![
            Turn::new(Role::User, "Hi"),
            Turn::new(Role::Assistant, "Hello! How can I help?"),
            Turn::new(Role::User, "Name a colour."),
        ],
        ..Prompt::default()
    };
    let ids = m.prompt_tokens(&p);
    assert_eq!(&ids[ids.len() - 4..], &[1, 520, 9531, 198]);
    // A last assistant turn is continued, not closed.
    let mut prefill = p.clone();
    prefill
        .turns
        .push(Turn::new(Role::Assistant, "My favourite colour is"));
    let ids = m.prompt_tokens(&prefill);
    let tail = m.tokenize("My favourite colour is");
    assert_eq!(&ids[ids.len() - tail.len()..], &tail[..]);
    let (pieces, g) = run(&prefill, &greedy(8));
    assert!(g.output_tokens > 0);
    assert!(!pieces.concat().is_empty());
}

#[test]
fn too_long_a_prompt_is_an_error() {
    let m = model();
    let long = "word ".repeat(m.max_context() + 10);
    let err = m
        .generate(&Prompt::user(long), &greedy(4), &mut |_| {
            ControlFlow::Continue(())
        })
        .unwrap_err();
    assert!(err.to_string().contains("tokens"), "{err}");
}
