//! Markdown pieces: a document builder, tables, and the words the report uses for verdicts and
//! comparisons.

use std::path::Path;

/// A Markdown document built block by block; every block ends with a blank line.
#[derive(Debug, Default)]
pub struct Md(pub String);

impl Md {
    pub fn h2(&mut self, title: &str) -> &mut Self {
        self.p(format!("## {title}"))
    }

    /// A paragraph (or any block written out already).
    pub fn p(&mut self, text: impl AsRef<str>) -> &mut Self {
        self.0.push_str(text.as_ref().trim_end_matches('\n'));
        self.0.push_str("\n\n");
        self
    }

    /// A table: `head` and the rows' cells.
    pub fn table<R: AsRef<[String]>>(
        &mut self,
        head: &[&str],
        rows: impl IntoIterator<Item = R>,
    ) -> &mut Self {
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let cells: Vec<String> = cells
                .map(|c| {
                    if c.is_empty() {
                        " ".into()
                    } else {
                        format!(" {c} ")
                    }
                })
                .collect();
            format!("|{}|\n", cells.join("|"))
        };
        self.0.push_str(&line(&mut head.iter().copied()));
        self.0.push_str(&line(&mut head.iter().map(|_| "---")));
        for r in rows {
            self.0
                .push_str(&line(&mut r.as_ref().iter().map(String::as_str)));
        }
        self.0.push('\n');
        self
    }

    /// Bullet lines, then a blank line; nothing when there are none.
    pub fn list(&mut self, items: impl IntoIterator<Item = String>) -> &mut Self {
        let items: Vec<String> = items.into_iter().map(|i| format!("- {i}")).collect();
        if !items.is_empty() {
            self.p(items.join("\n"));
        }
        self
    }
}

/// `v` with `digits` decimals.
pub fn f(v: f64, digits: usize) -> String {
    format!("{v:.digits$}")
}

pub fn mib(kib: f64) -> f64 {
    kib / 1024.0
}

pub fn met(ok: bool) -> &'static str {
    if ok {
        "**met**"
    } else {
        "**not met**"
    }
}

/// How busy the rest of the machine was while something was measured.
pub fn contention(cores: f64, nproc: usize) -> String {
    if cores.is_finite() && cores >= 0.05 {
        format!("other processes kept {cores:.2} of {nproc} cores busy meanwhile")
    } else {
        "machine otherwise idle".to_string()
    }
}

/// `12×` from 10 up, else `1.5×`.
pub fn times(r: f64) -> String {
    if r >= 10.0 {
        format!("{r:.0}×")
    } else {
        format!("{r:.1}×")
    }
}

/// "12× higher" / "40× lower" / "about the same"; "n/a" without both values.
pub fn compare(ours: f64, other: f64) -> String {
    if !(ours.is_finite() && other.is_finite()) || ours <= 0.0 || other <= 0.0 {
        return "n/a".into();
    }
    match ours / other {
        r if (0.95..=1.05).contains(&r) => "about the same".into(),
        r if r > 1.0 => format!("{} higher", times(r)),
        r => format!("{} lower", times(1.0 / r)),
    }
}

/// The first line of `text`, at most 300 bytes.
pub fn one_line(text: &str) -> String {
    let first = text.lines().next().unwrap_or("").trim();
    if first.len() <= 300 {
        return first.to_string();
    }
    let cut = (0..=300)
        .rev()
        .find(|n| first.is_char_boundary(*n))
        .unwrap_or(0);
    format!("{}…", &first[..cut])
}

/// The relative link from the report's folder to `target`, or its path as given.
pub fn link(from_dir: &Path, target: &Path) -> String {
    let abs = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let (d, t) = (abs(from_dir), abs(target));
    t.strip_prefix(&d).map_or_else(
        |_| target.display().to_string(),
        |r| r.display().to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_and_words() {
        let mut md = Md::default();
        md.h2("T")
            .table(&["", "a"], [row!["x", 1.5], row!["", "y"]])
            .list(["z".to_string()]);
        assert_eq!(
            md.0,
            "## T\n\n| | a |\n| --- | --- |\n| x | 1.5 |\n| | y |\n\n- z\n\n"
        );
        assert_eq!(compare(120.0, 10.0), "12× higher");
        assert_eq!(compare(1.0, 40.0), "40× lower");
        assert_eq!(compare(1.0, 1.01), "about the same");
        assert_eq!(compare(f64::NAN, 1.0), "n/a");
        assert_eq!(
            one_line(&format!("{}\nsecond", "é".repeat(200)))
                .chars()
                .count(),
            151
        );
        assert_eq!(contention(0.01, 2), "machine otherwise idle");
    }
}
