//! `cargo xtask book`: the book's code blocks (`docs/book/src/*.md`) are
//! copies of files in the repository that the tests build, and this check
//! keeps them so. Part of `cargo xtask test` (lint stage).
//!
//! The rule, for every fenced code block of a chapter:
//!
//! - the line just before the fence (blank lines skipped) is a marker
//!   naming its source: `<!-- file: PATH -->` (the whole file) or
//!   `<!-- file: PATH anchor: NAME -->` (the lines between `ANCHOR: NAME`
//!   and `ANCHOR_END: NAME`, mdBook's convention, with their common
//!   indentation removed). PATH is relative to the repository root and may
//!   not be under `docs/`. Lines naming an `ANCHOR:` or `ANCHOR_END:` are
//!   left out of the comparison. The block must equal that text (trailing
//!   blank lines aside);
//! - the only exemption is a shell command block: a fence whose language is
//!   `sh`, or a block preceded by `<!-- shell -->`.
//!
//! `cargo xtask book --bless` rewrites every marked block from its source.
//! `SUMMARY.md` must list every chapter, and every chapter it lists must
//! exist. Relative links must name files that exist, and `#anchor`s of
//! Markdown files headings that exist.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use clap::Args;

#[derive(Args, Debug)]
pub struct BookArgs {
    /// Rewrite each marked code block from its source instead of comparing.
    #[arg(long)]
    pub bless: bool,
}

/// The book's directory.
pub fn book_dir() -> PathBuf {
    crate::root().join("docs/book")
}

pub fn run(args: &BookArgs) -> Result<()> {
    let root = crate::root();
    let src = book_dir().join("src");
    let mut problems = vec![];
    let mut blocks = 0;
    for chapter in chapters(&src)? {
        let text = std::fs::read_to_string(&chapter)
            .with_context(|| format!("reading {}", chapter.display()))?;
        let name = chapter
            .strip_prefix(&root)
            .unwrap_or(&chapter)
            .display()
            .to_string();
        let checked = check(&text, &name, &root);
        problems.extend(link_problems(&text, &name, &chapter));
        blocks += checked.blocks;
        if args.bless {
            if checked.text != text {
                std::fs::write(&chapter, &checked.text)?;
                eprintln!("xtask: rewrote {name}");
            }
            // Drift is fixed by the rewrite; the rest still counts.
            problems.extend(checked.problems.into_iter().filter(|p| !p.drift));
        } else {
            problems.extend(checked.problems);
        }
    }
    problems.extend(summary_problems(&src)?);
    if !problems.is_empty() {
        let mut msg = String::new();
        for p in &problems {
            let _ = writeln!(msg, "{}", p.message);
        }
        bail!(
            "{} problem(s) in the book (docs/book):\n{msg}A code block must be a copy of the file \
             its marker names (`cargo xtask book --bless` copies them); see xtask/src/book.rs",
            problems.len()
        );
    }
    eprintln!("xtask: book: {blocks} code blocks match their sources");
    Ok(())
}

/// The chapters: every `.md` file under `src`, sorted.
fn chapters(src: &Path) -> Result<Vec<PathBuf>> {
    let mut out = vec![];
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The anchor a heading gets (GitHub's and mdBook's rule): lower case,
/// letters, digits, `_` and `-` kept, spaces turned into `-`, the rest
/// dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let mut in_code = false;
    let mut out = vec![];
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && let Some(heading) = line.strip_prefix('#') {
            out.push(slug(heading.trim_start_matches('#')));
        }
    }
    out
}

/// Relative links of a chapter (outside code blocks and code spans) whose
/// file does not exist, or whose `#anchor` names no heading of a Markdown
/// file.
fn link_problems(text: &str, name: &str, chapter: &Path) -> Vec<Problem> {
    let dir = chapter.parent().unwrap_or(Path::new("."));
    let mut problems = vec![];
    let mut in_code = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        // Code spans are not links.
        let prose: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        for target in prose
            .split("](")
            .skip(1)
            .filter_map(|t| t.split(')').next())
        {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target, None),
            };
            let path = if file.is_empty() {
                chapter.to_path_buf()
            } else {
                dir.join(file)
            };
            let at = format!("{name}:{}", n + 1);
            if !path.exists() {
                problems.push(Problem::other(format!(
                    "{at}: link to {target}: no such file"
                )));
                continue;
            }
            if let Some(anchor) = anchor
                && path.extension().is_some_and(|e| e == "md")
            {
                let linked = std::fs::read_to_string(&path).unwrap_or_default();
                if !anchors(&linked).iter().any(|a| a == anchor) {
                    problems.push(Problem::other(format!(
                        "{at}: link to {target}: no heading with that anchor"
                    )));
                }
            }
        }
    }
    problems
}

/// SUMMARY.md lists every chapter, and only chapters that exist.
fn summary_problems(src: &Path) -> Result<Vec<Problem>> {
    let summary = std::fs::read_to_string(src.join("SUMMARY.md")).context("reading SUMMARY.md")?;
    let listed: Vec<&str> = summary
        .lines()
        .filter_map(|l| l.split("](").nth(1)?.split(')').next())
        .collect();
    let mut problems = vec![];
    for link in &listed {
        if !src.join(link).exists() {
            problems.push(Problem::other(format!(
                "docs/book/src/SUMMARY.md: lists {link}, which does not exist"
            )));
        }
    }
    for chapter in chapters(src)? {
        let rel = chapter.strip_prefix(src).unwrap_or(&chapter);
        let rel = rel.to_string_lossy();
        if rel != "SUMMARY.md" && !listed.iter().any(|l| *l == rel) {
            problems.push(Problem::other(format!(
                "docs/book/src/SUMMARY.md: does not list {rel}"
            )));
        }
    }
    Ok(problems)
}

#[derive(Debug)]
pub struct Problem {
    message: String,
    /// The block differs from its source (which `--bless` fixes).
    drift: bool,
}

impl Problem {
    fn other(message: String) -> Self {
        Problem {
            message,
            drift: false,
        }
    }
}

/// What checking one chapter found.
pub struct Checked {
    problems: Vec<Problem>,
    /// The chapter with every marked block copied from its source.
    text: String,
    blocks: usize,
}

/// What a marker line says.
enum Marker {
    File {
        path: String,
        anchor: Option<String>,
    },
    Shell,
}

fn parse_marker(line: &str) -> Option<Result<Marker, String>> {
    let inner = line
        .trim()
        .strip_prefix("<!--")?
        .strip_suffix("-->")?
        .trim();
    if inner == "shell" {
        return Some(Ok(Marker::Shell));
    }
    let rest = inner.strip_prefix("file:")?.trim();
    let (path, anchor) = match rest.split_once(" anchor:") {
        Some((p, a)) => (p.trim(), Some(a.trim().to_owned())),
        None => (rest, None),
    };
    if path.is_empty() || anchor.as_deref() == Some("") {
        return Some(Err(format!("malformed marker `{}`", line.trim())));
    }
    Some(Ok(Marker::File {
        path: path.to_owned(),
        anchor,
    }))
}

/// The text a marker names: the whole file or one anchor's region, without
/// anchor lines, dedented, trailing blank lines removed.
fn source_text(root: &Path, path: &str, anchor: Option<&str>) -> Result<String, String> {
    if path.starts_with("docs/") || path.contains("..") || path.starts_with('/') {
        return Err(format!(
            "{path}: a block's source must be a file of the repository outside docs/"
        ));
    }
    let text = std::fs::read_to_string(root.join(path)).map_err(|e| format!("{path}: {e}"))?;
    let is_anchor = |l: &str| l.contains("ANCHOR:") || l.contains("ANCHOR_END:");
    let lines: Vec<&str> = match anchor {
        None => text.lines().filter(|l| !is_anchor(l)).collect(),
        Some(name) => {
            let starts = |l: &str, tag: &str| {
                l.split_once(tag)
                    .is_some_and(|(_, rest)| rest.trim() == name)
            };
            let begin = text
                .lines()
                .position(|l| starts(l, "ANCHOR:"))
                .ok_or_else(|| format!("{path}: no `ANCHOR: {name}` line"))?;
            let len = text
                .lines()
                .skip(begin + 1)
                .position(|l| starts(l, "ANCHOR_END:"))
                .ok_or_else(|| format!("{path}: no `ANCHOR_END: {name}` line"))?;
            text.lines()
                .skip(begin + 1)
                .take(len)
                .filter(|l| !is_anchor(l))
                .collect()
        }
    };
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: Vec<&str> = lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or("").trim_end_matches('\r'))
        .collect();
    while out.last().is_some_and(|l| l.trim().is_empty()) {
        out.pop();
    }
    Ok(out.join("\n"))
}

/// Checks one chapter's code blocks against their sources; `name` is the
/// chapter's path for messages.
pub fn check(text: &str, name: &str, root: &Path) -> Checked {
    let lines: Vec<&str> = text.lines().collect();
    let mut problems = vec![];
    let mut out: Vec<String> = vec![];
    let mut blocks = 0;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if !trimmed.starts_with("```") {
            out.push(line.to_owned());
            i += 1;
            continue;
        }
        let indent = &line[..line.len() - trimmed.len()];
        let fence: String = trimmed.chars().take_while(|c| *c == '`').collect();
        let lang = trimmed[fence.len()..].trim();
        let Some(len) = lines[i + 1..]
            .iter()
            .position(|l| l.trim_start().starts_with(fence.as_str()) && l.trim() == fence)
        else {
            problems.push(Problem::other(format!(
                "{name}:{}: code block is not closed",
                i + 1
            )));
            out.extend(lines[i..].iter().map(|l| l.to_string()));
            break;
        };
        let body: Vec<&str> = lines[i + 1..i + 1 + len]
            .iter()
            .map(|l| l.strip_prefix(indent).unwrap_or(l.trim_start()))
            .collect();
        let marker = lines[..i]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .and_then(|l| parse_marker(l));
        let at = format!("{name}:{}", i + 1);
        out.push(line.to_owned());
        let mut replaced = None;
        match marker {
            _ if lang == "sh" => {}
            Some(Ok(Marker::Shell)) => {}
            Some(Ok(Marker::File { path, anchor })) => {
                blocks += 1;
                match source_text(root, &path, anchor.as_deref()) {
                    Err(e) => problems.push(Problem::other(format!("{at}: {e}"))),
                    Ok(source) => {
                        let mut block = body.join("\n");
                        while block.ends_with('\n') {
                            block.pop();
                        }
                        if block != source {
                            let differs = block
                                .lines()
                                .zip(source.lines())
                                .position(|(a, b)| a != b)
                                .unwrap_or(block.lines().count().min(source.lines().count()));
                            let what = match &anchor {
                                Some(a) => format!("{path} (anchor {a})"),
                                None => path.clone(),
                            };
                            problems.push(Problem {
                                message: format!(
                                    "{at}: the block differs from {what} at its line {}:\n    \
                                     book:   {}\n    source: {}",
                                    differs + 1,
                                    block.lines().nth(differs).unwrap_or("(end of block)"),
                                    source.lines().nth(differs).unwrap_or("(end of source)"),
                                ),
                                drift: true,
                            });
                            replaced = Some(source);
                        }
                    }
                }
            }
            Some(Err(e)) => problems.push(Problem::other(format!("{at}: {e}"))),
            None => problems.push(Problem::other(format!(
                "{at}: code block without a source marker (`<!-- file: PATH [anchor: NAME] -->` \
                 on the line before it, or `<!-- shell -->` / ```sh for shell commands)"
            ))),
        }
        match replaced {
            Some(source) => out.extend(source.lines().map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{indent}{l}")
                }
            })),
            None => out.extend(lines[i + 1..i + 1 + len].iter().map(|l| l.to_string())),
        }
        out.push(lines[i + 1 + len].to_owned());
        i += len + 2;
    }
    let mut text_out = out.join("\n");
    if text.ends_with('\n') {
        text_out.push('\n');
    }
    Checked {
        problems,
        text: text_out,
        blocks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository with one source file, in a directory of the test's own.
    fn repo(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("iu-book-{test}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(
            dir.join("src/lib.rs"),
            "fn a() {}\n// ANCHOR: body\n    let x = 1;\n    // ANCHOR: inner\n    x + 1\n    \
             // ANCHOR_END: inner\n// ANCHOR_END: body\n",
        )
        .unwrap();
        dir
    }

    #[test]
    fn matching_blocks_pass() {
        let root = repo("matching");
        let md = "# T\n\n<!-- file: src/lib.rs anchor: body -->\n```rust\nlet x = 1;\nx + 1\n```\n\n\
                  <!-- file: src/lib.rs -->\n\n```rust\nfn a() {}\n    let x = 1;\n    x + 1\n```\n\n\
                  ```sh\ncargo xtask book\n```\n<!-- shell -->\n```\nls\n```\n";
        let checked = check(md, "t.md", &root);
        assert!(checked.problems.is_empty(), "{:?}", checked.problems);
        assert_eq!(checked.blocks, 2);
        assert_eq!(checked.text, md);
    }

    #[test]
    fn a_block_that_drifted_is_reported_and_blessed() {
        let root = repo("drift");
        let md = "<!-- file: src/lib.rs anchor: body -->\n```rust\nlet x = 2;\nx + 1\n```\n";
        let checked = check(md, "t.md", &root);
        assert_eq!(checked.problems.len(), 1);
        let p = &checked.problems[0];
        assert!(p.drift);
        assert!(p.message.contains("t.md:2"), "{}", p.message);
        assert!(p.message.contains("let x = 2;"), "{}", p.message);
        assert!(p.message.contains("let x = 1;"), "{}", p.message);
        assert_eq!(
            checked.text,
            "<!-- file: src/lib.rs anchor: body -->\n```rust\nlet x = 1;\nx + 1\n```\n"
        );
        // A block longer than its source drifted too.
        let longer = "<!-- file: src/lib.rs anchor: inner -->\n```rust\nx + 1\nmore\n```\n";
        assert_eq!(check(longer, "t.md", &root).problems.len(), 1);
    }

    #[test]
    fn unmarked_blocks_and_bad_sources_are_reported() {
        let root = repo("unmarked");
        for (md, expect) in [
            ("text\n```rust\nfn a() {}\n```\n", "without a source marker"),
            ("<!-- file: src/nope.rs -->\n```rust\n```\n", "src/nope.rs"),
            (
                "<!-- file: src/lib.rs anchor: gone -->\n```rust\n```\n",
                "no `ANCHOR: gone` line",
            ),
            ("<!-- file: docs/x.md -->\n```\n```\n", "outside docs/"),
            (
                "<!-- file: src/lib.rs -->\n```rust\nfn a() {}\n",
                "not closed",
            ),
        ] {
            let checked = check(md, "t.md", &root);
            assert_eq!(checked.problems.len(), 1, "{md}");
            assert!(
                checked.problems[0].message.contains(expect),
                "{md}: {}",
                checked.problems[0].message
            );
        }
    }

    #[test]
    fn links_to_missing_files_and_headings_are_reported() {
        let root = repo("links");
        let chapter = root.join("src/a.md");
        let md = "# A chapter\n\n## Two: `words`\n[ok](#two-words) [ok](lib.rs) \
                  [web](https://example.com) `[not](a link)`\n[gone](nope.md) [bad](#three)\n\
                  ```\n[in](code.md)\n```\n";
        std::fs::write(&chapter, md).unwrap();
        let problems = link_problems(md, "a.md", &chapter);
        let messages: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages[0].contains("nope.md: no such file"),
            "{messages:?}"
        );
        assert!(messages[1].contains("#three: no heading"), "{messages:?}");
    }

    #[test]
    fn the_book_matches_its_sources() {
        run(&BookArgs { bless: false }).unwrap();
    }
}
