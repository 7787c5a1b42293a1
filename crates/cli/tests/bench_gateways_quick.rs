//! The gateway comparison at its quick size, serve only: the real `bedrock-stream` binary as
//! local-bedrock and serve, OpenAI-style streams through serve, every answer checked. LiteLLM is
//! left out here (it takes seconds to start and is installed only by
//! `crates/bench/peers/setup.sh`); its side must then say it was skipped. No timing assertions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bench::gateways::{self, GatewaysConfig};
use bench::procs;
use bench::report::Size;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_streams_complete_and_litellm_is_skipped() {
    let bin = match procs::resolve_bin(None) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipping: {e}");
            return;
        }
    };
    let cfg = GatewaysConfig {
        with_litellm: false,
        ..GatewaysConfig::for_size(Size::Quick)
    };
    let r = gateways::run(&bin, &cfg).await.unwrap();
    let summary = r.summary();
    assert!(r.serve.ran(), "{summary}");
    assert_eq!(r.serve.runs.len(), cfg.runs, "{summary}");
    for run in &r.serve.runs {
        let l = &run.load;
        assert_eq!(l.started, cfg.serve_budget.streams, "{summary}");
        assert_eq!(l.ok, l.started, "{summary}");
        assert_eq!(l.failed(), 0, "{summary}");
        assert_eq!(l.chunks_ok, l.ok * cfg.words as usize, "{summary}");
        assert_eq!(l.regrouped, 0, "{summary}");
        assert_eq!(l.first_content_ms.len(), l.ok, "{summary}");
        assert!(
            run.hwm_kib >= run.ready_rss_kib && run.ready_rss_kib > 0,
            "{summary}"
        );
        assert!(run.ready_ms > 0.0, "{summary}");
    }
    assert_eq!(
        r.serve.sequential.n, cfg.serve_budget.sequential,
        "{summary}"
    );
    assert_eq!(r.serve.sequential.mismatches, 0, "{summary}");
    assert!(r.serve_passed(), "{summary}");
    assert!(r.litellm.skipped.is_some() && r.litellm.runs.is_empty());
    assert!(r.speedup().is_none());
    let md = gateways::markdown(&r);
    assert!(md.starts_with("## Gateways: serve vs LiteLLM"), "{md}");
    assert!(md.contains("skipped: not requested"), "{md}");
    let goals = gateways::goals(&r);
    assert_eq!(goals.len(), 1);
    assert!(goals[0][2].starts_with("n/a"), "{goals:?}");
}

/// The LiteLLM side at the quick size, when LiteLLM is installed (`cargo test -p bench --
/// --ignored`): its streams must be complete too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs crates/bench/peers/setup.sh; LiteLLM takes ~10 s to start"]
async fn litellm_streams_complete_when_installed() {
    let bin = procs::resolve_bin(None).unwrap();
    let cfg = GatewaysConfig::for_size(Size::Quick);
    let r = gateways::run(&bin, &cfg).await.unwrap();
    let summary = r.summary();
    if let Some(reason) = &r.litellm.skipped {
        assert!(reason.contains("not installed"), "{summary}");
        return;
    }
    for run in &r.litellm.runs {
        assert!(run.load.ok > 0, "{summary}");
        assert_eq!(run.load.failed(), 0, "{summary}");
    }
    assert_eq!(r.litellm.sequential.mismatches, 0, "{summary}");
    assert!(r.speedup().is_some(), "{summary}");
}
