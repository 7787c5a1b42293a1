//! `bench all`: every scenario in turn, at one size, into one [`AllResults`] (saved as JSON so
//! that the report can be rendered again without running anything).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::coldstart::{self, ColdStartConfig, ColdStartReport};
use super::gateways::{self, GatewaysConfig, GatewaysReport};
use super::model::{self, ModelConfig, ModelReport};
use super::serve::{self, ServeConfig, ServeReport};
use super::sizes::{self, SizesReport};
use super::Size;
use crate::harness::bedrock_stream::ServeOptions;
use crate::harness::system::{loadavg, nproc, utc_now};
use crate::harness::{output, repo_path, workspace_root};

/// What `bench all` runs.
#[derive(Debug, Clone)]
pub struct AllConfig {
    pub size: Size,
    pub bin: std::path::PathBuf,
    /// How the binary was built (shown in the report).
    pub build_note: Option<String>,
    pub serve: ServeOptions,
    /// Time a cold `sam build` (about a quarter of an hour on 2 cores).
    pub sam_build: bool,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct AllResults {
    pub size: Size,
    pub machine: Machine,
    pub serve: ServeReport,
    pub coldstart: ColdStartReport,
    pub gateways: GatewaysReport,
    pub model: ModelReport,
    pub sizes: SizesReport,
    pub seconds: f64,
    pub load_after: String,
}

impl AllResults {
    /// Nothing lost, corrupted or wrong anywhere, and our own parts all ran.
    pub fn passed(&self) -> bool {
        self.serve.failures() == 0 && self.coldstart.passed() && self.gateways.serve_passed()
    }
}

/// Runs everything for `cfg.size`, printing progress to stderr.
pub async fn run(cfg: &AllConfig) -> anyhow::Result<AllResults> {
    let (t0, bin, size) = (Instant::now(), cfg.bin.as_path(), cfg.size);
    let machine = Machine::probe(bin, cfg.build_note.clone());
    let serve = serve::run(bin, &ServeConfig::for_size(size, &cfg.serve)).await?;
    eprintln!("== Lambda cold start: Rust vs Node.js vs Python");
    let coldstart = coldstart::run(bin, &ColdStartConfig::for_size(size)).await?;
    eprintln!("== gateways: serve vs LiteLLM");
    let gw = GatewaysConfig {
        serve: cfg.serve.clone(),
        ..GatewaysConfig::for_size(size)
    };
    let gateways = gateways::run(bin, &gw).await?;
    // The model comparison measures CPU speed: it runs when nothing else of the bench does.
    eprintln!("== embedded model vs llama.cpp");
    let model = model::run(&ModelConfig::for_size(size)).await?;
    eprintln!(
        "== sizes{}",
        if cfg.sam_build { " and sam build" } else { "" }
    );
    let sizes = sizes::run(bin, cfg.sam_build, Duration::from_secs(45 * 60)).await?;
    Ok(AllResults {
        size,
        machine,
        serve,
        coldstart,
        gateways,
        model,
        sizes,
        seconds: t0.elapsed().as_secs_f64(),
        load_after: loadavg(),
    })
}

/// Where and what ran.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub mem: String,
    pub kernel: String,
    pub date: String,
    pub commit: String,
    pub rustc: String,
    /// The binary under test, by its path in the repository.
    pub bin: String,
    pub bin_size: String,
    pub build_note: Option<String>,
    pub load_before: String,
}

impl Machine {
    pub fn probe(bin: &Path, build_note: Option<String>) -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo.lines().find_map(|l| l.strip_prefix("model name"));
        let mem_kib = read("/proc/meminfo").lines().find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        });
        let root = workspace_root().display().to_string();
        let git = |args: &[&str]| output("git", &[&["-C", root.as_str()][..], args].concat());
        let commit = git(&["rev-parse", "--short", "HEAD"]).map(|c| {
            let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{c} (with uncommitted changes)")
            } else {
                c
            }
        });
        let or_unknown = |s: Option<String>| s.unwrap_or_else(|| "?".into());
        Machine {
            nproc: nproc(),
            cpu: or_unknown(cpu.map(|r| r.trim_start_matches([' ', '\t', ':']).trim().to_string())),
            mem: or_unknown(mem_kib.map(|kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0))),
            kernel: or_unknown(
                Some(read("/proc/sys/kernel/osrelease").trim().to_string())
                    .filter(|k| !k.is_empty()),
            ),
            date: utc_now(),
            commit: or_unknown(commit),
            rustc: or_unknown(output("rustc", &["--version"])),
            bin: repo_path(bin),
            bin_size: or_unknown(
                std::fs::metadata(bin)
                    .ok()
                    .map(|m| format!("{:.1} MiB", m.len() as f64 / 1048576.0)),
            ),
            build_note,
            load_before: loadavg(),
        }
    }
}

/// Saves the results, every float rounded to three decimals (a microsecond for times in ms) to
/// keep the file small.
pub fn save(res: &impl serde::Serialize, path: &Path) -> anyhow::Result<()> {
    fn round(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Number(n) if n.is_f64() => {
                if let Some(x) = n
                    .as_f64()
                    .and_then(|x| serde_json::Number::from_f64((x * 1000.0).round() / 1000.0))
                {
                    *n = x;
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(round),
            serde_json::Value::Object(o) => o.values_mut().for_each(round),
            _ => {}
        }
    }
    let mut value = serde_json::to_value(res)?;
    round(&mut value);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, serde_json::to_vec(&value)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads results saved by [`save`].
pub fn load(path: &Path) -> anyhow::Result<AllResults> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_floats_are_rounded_and_the_machine_is_named_by_repository_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        save(
            &serde_json::json!({"a": [1.23456789, 2], "b": {"c": 0.0004}}),
            &path,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1.235, 2], "b": {"c": 0.0}}));
        let m = Machine::probe(&workspace_root().join("Cargo.toml"), None);
        assert_eq!(m.bin, "Cargo.toml");
        assert!(m.nproc > 0 && m.date.ends_with(" UTC"), "{m:?}");
    }
}
