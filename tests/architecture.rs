//! The import arrows of `docs/architecture.md` hold in `src/`.
//!
//! The doc lists flowc's stages, earliest first, in a fenced block under the
//! marker `<!-- architecture:stages -->`; a module may use only stages before
//! its own. This test reads that list from the doc (so the doc and the code
//! cannot disagree), maps every file under `src/` to its stage (the top-level
//! module: `src/<stage>.rs` or `src/<stage>/…`; `lib.rs` and `main.rs` are
//! exempt) and reports every `crate::<module>` reference — in `use` lines and
//! inline in code, not in comments or strings — that points to a later stage,
//! with file and line. A top-level module missing from the doc fails too.
//!
//! Two more marked blocks are tolerated while the code moves:
//! `architecture:being-removed` (modules whose imports are not checked; listing
//! one that is gone fails, so the list shrinks with the code) and
//! `architecture:exceptions` (`from -> to` arrows allowed for now; one no
//! longer used fails, for the same reason).
//!
//! `super::` paths are not followed: within a top-level module they are
//! harmless, and leaving it is what `crate::` is for.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const DOC: &str = "docs/architecture.md";

// ------------------------------------------------------------ the doc

/// What `docs/architecture.md` says about the layering.
#[derive(Debug, Default, PartialEq)]
struct Layering {
    /// Earliest first.
    stages: Vec<String>,
    being_removed: Vec<String>,
    /// Allowed for now, against the order: (from, to).
    exceptions: Vec<(String, String)>,
}

impl Layering {
    fn rank(&self, module: &str) -> Option<usize> {
        self.stages.iter().position(|s| s == module)
    }

    fn known(&self, module: &str) -> bool {
        self.rank(module).is_some() || self.being_removed.iter().any(|m| m == module)
    }
}

/// Reads the marked blocks of the doc. The stages block is required.
fn parse_doc(text: &str) -> Result<Layering, String> {
    let stages = marked_block(text, "stages")?
        .ok_or("no `<!-- architecture:stages -->` block: the stage list is missing")?;
    let mut layering = Layering {
        stages: names(&stages, "stages")?,
        ..Layering::default()
    };
    if let Some(lines) = marked_block(text, "being-removed")? {
        layering.being_removed = names(&lines, "being-removed")?;
    }
    if let Some(lines) = marked_block(text, "exceptions")? {
        for line in lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words[..] {
                [from, "->", to, ..] if is_name(from) && is_name(to) => {
                    layering.exceptions.push((from.to_string(), to.to_string()))
                }
                _ => return Err(format!("exceptions: `{line}` is not `from -> to  reason`")),
            }
        }
    }
    let mut seen = BTreeSet::new();
    for name in layering.stages.iter().chain(&layering.being_removed) {
        if !seen.insert(name) {
            return Err(format!("`{name}` is listed twice"));
        }
    }
    if layering.stages.is_empty() {
        return Err("the stages block lists no stage".into());
    }
    Ok(layering)
}

/// The non-blank lines of the fenced block that follows
/// `<!-- architecture:{marker} -->`, or `None` without that marker.
fn marked_block<'t>(text: &'t str, marker: &str) -> Result<Option<Vec<&'t str>>, String> {
    let tag = format!("<!-- architecture:{marker} -->");
    let Some(at) = text.find(&tag) else {
        return Ok(None);
    };
    let mut lines = text[at + tag.len()..].lines().skip(1);
    let opening = lines.by_ref().find(|l| !l.trim().is_empty());
    if !opening.is_some_and(|l| l.trim_start().starts_with("```")) {
        return Err(format!("{tag} is not followed by a fenced block"));
    }
    let mut block = Vec::new();
    for line in lines {
        if line.trim_start().starts_with("```") {
            return Ok(Some(block));
        }
        if !line.trim().is_empty() {
            block.push(line.trim());
        }
    }
    Err(format!("the block after {tag} is not closed"))
}

/// The first word of each line: a module name.
fn names(lines: &[&str], block: &str) -> Result<Vec<String>, String> {
    lines
        .iter()
        .map(|line| {
            let word = line.split_whitespace().next().unwrap_or_default();
            if is_name(word) {
                Ok(word.to_string())
            } else {
                Err(format!(
                    "{block}: `{line}` does not start with a module name"
                ))
            }
        })
        .collect()
}

fn is_name(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && word
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

// ------------------------------------------------------------ the code

/// Rust source with comments and string and character literals replaced by
/// spaces (line breaks kept, so positions keep their line), leaving only code.
fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char, out: &mut String| out.push(if c == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let at = |k: usize| chars.get(i + k).copied();
        let after_word = i > 0 && is_ident_char(chars[i - 1]);
        if c == '/' && at(1) == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                blank(chars[i], &mut out);
                i += 1;
            }
        } else if c == '/' && at(1) == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(chars[i], &mut out);
                    i += 1;
                }
            }
        } else if c == '"' {
            blank(c, &mut out);
            i += 1;
            while i < chars.len() {
                let s = chars[i];
                blank(s, &mut out);
                i += 1;
                if s == '\\' && i < chars.len() {
                    blank(chars[i], &mut out);
                    i += 1;
                } else if s == '"' {
                    break;
                }
            }
        } else if (c == 'r' || (c == 'b' && at(1) == Some('r'))) && !after_word {
            // r"…", r#"…"#, br"…": no escapes, ends at `"` and as many `#`.
            let start = if c == 'b' { i + 2 } else { i + 1 };
            let hashes = chars[start..].iter().take_while(|&&h| h == '#').count();
            if chars.get(start + hashes) != Some(&'"') {
                out.push(c); // an identifier such as `r#type` or `raw`
                i += 1;
                continue;
            }
            let mut j = start + hashes + 1;
            while j < chars.len()
                && !(chars[j] == '"'
                    && chars[j + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes)
            {
                j += 1;
            }
            let end = (j + 1 + hashes).min(chars.len());
            for &s in &chars[i..end] {
                blank(s, &mut out);
            }
            i = end;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}'), or a lifetime.
            let len = if at(1) == Some('\\') {
                // The escaped character itself may be a quote: '\''.
                chars
                    .get(i + 3..)
                    .and_then(|rest| rest.iter().position(|&q| q == '\''))
                    .map(|p| p + 4)
            } else if at(2) == Some('\'') {
                Some(3)
            } else {
                None
            };
            match len {
                Some(n) => {
                    for &s in &chars[i..(i + n).min(chars.len())] {
                        blank(s, &mut out);
                    }
                    i += n;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `(line, module)` of every `crate::<module>` in code, 1-based lines. In a
/// group, `crate::{a, b::c}`, each of `a` and `b` counts, at its own line.
fn crate_references(code: &str) -> Vec<(usize, String)> {
    let line_of = |pos: usize| code[..pos].matches('\n').count() + 1;
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(p) = code[from..].find("crate::") {
        let at = from + p;
        from = at + "crate::".len();
        if code[..at].chars().next_back().is_some_and(is_ident_char) {
            continue; // e.g. `flowcrate::`
        }
        let rest = &code[from..];
        let body = rest.trim_start();
        let body_at = from + rest.len() - body.len();
        if body.starts_with('{') {
            let mut depth = 0;
            let mut expect_head = false;
            for (k, ch) in body.char_indices() {
                match ch {
                    '{' => {
                        depth += 1;
                        expect_head = depth == 1;
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => expect_head = true,
                    c if expect_head && is_ident_char(c) => {
                        expect_head = false;
                        let word: String = body[k..]
                            .chars()
                            .take_while(|&c| is_ident_char(c))
                            .collect();
                        if word != "self" {
                            found.push((line_of(body_at + k), word));
                        }
                    }
                    _ => {}
                }
            }
        } else {
            let word: String = body.chars().take_while(|&c| is_ident_char(c)).collect();
            if !word.is_empty() {
                found.push((line_of(at), word));
            }
        }
    }
    found
}

/// The top-level module of a file under `src/`, or `None` for the crate
/// roots. `rel` is relative to `src/`.
fn module_of(rel: &Path) -> Option<String> {
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_str()?;
    if parts.next().is_some() {
        return Some(first.to_string());
    }
    match first.strip_suffix(".rs")? {
        "lib" | "main" => None,
        module => Some(module.to_string()),
    }
}

// ------------------------------------------------------------ the check

/// Everything that disagrees with the doc, one line each. `files` are paths
/// relative to `src/` with their text.
fn problems(layering: &Layering, files: &[(PathBuf, String)]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut modules: BTreeSet<String> = BTreeSet::new();
    let mut used_exceptions = BTreeSet::new();
    for (rel, text) in files {
        let Some(from) = module_of(rel) else { continue };
        modules.insert(from.clone());
        let shown = Path::new("src").join(rel);
        let removed = |m: &str| layering.being_removed.iter().any(|r| r == m);
        for (line, to) in crate_references(&code_only(text)) {
            if to == from || removed(&from) || removed(&to) {
                continue;
            }
            match (layering.rank(&from), layering.rank(&to)) {
                (Some(a), Some(b)) if b > a => {
                    let arrow = (from.clone(), to.clone());
                    if layering.exceptions.contains(&arrow) {
                        used_exceptions.insert(arrow);
                    } else {
                        problems.push(format!(
                            "{}:{line}: {from} → {to}: `{to}` is a later stage than `{from}`",
                            shown.display()
                        ));
                    }
                }
                (Some(_), None) => problems.push(format!(
                    "{}:{line}: `crate::{to}` is not a stage listed in {DOC}",
                    shown.display()
                )),
                _ => {}
            }
        }
    }
    for module in &modules {
        if !layering.known(module) {
            problems.push(format!(
                "src/{module} is not in {DOC}: add `{module}` to the stages, where it belongs in the order"
            ));
        }
    }
    for stage in &layering.stages {
        if !modules.contains(stage) {
            problems.push(format!(
                "{DOC} lists the stage `{stage}`, but there is no src/{stage}.rs or src/{stage}/"
            ));
        }
    }
    for module in &layering.being_removed {
        if !modules.contains(module) {
            problems.push(format!(
                "src/{module} is gone: delete `{module}` from the being-removed list in {DOC}"
            ));
        }
    }
    for (from, to) in &layering.exceptions {
        if !used_exceptions.contains(&(from.clone(), to.clone())) {
            problems.push(format!(
                "nothing in src/{from} uses {to} any more: delete the exception `{from} -> {to}` in {DOC}"
            ));
        }
    }
    problems
}

fn rust_files(dir: &Path, under: &Path, out: &mut Vec<(PathBuf, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, under, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path.strip_prefix(under).unwrap().to_path_buf(), text));
        }
    }
}

/// The emulators crate must not depend on flowc (it stands on its own, so
/// flowc can leave it out of a build).
fn emulator_crate_problems(root: &Path) -> Vec<String> {
    let manifest = root.join("emulators/Cargo.toml");
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return vec![]; // not split out yet: src/emulators is being removed
    };
    let mut section = String::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_string();
        } else if section.contains("dependencies")
            && (line.starts_with("flowc ")
                || line.starts_with("flowc=")
                || line.starts_with("flowc."))
        {
            problems.push(format!(
                "emulators/Cargo.toml:{}: flowc-emulators depends on flowc; it must stand alone",
                n + 1
            ));
        }
    }
    problems
}

#[test]
fn imports_follow_the_stages_of_the_architecture_doc() {
    let root = Path::new(ROOT);
    let doc = std::fs::read_to_string(root.join(DOC)).expect("docs/architecture.md");
    let layering = parse_doc(&doc).unwrap_or_else(|e| panic!("{DOC}: {e}"));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    let mut found = problems(&layering, &files);
    found.extend(emulator_crate_problems(root));
    let mut report = String::new();
    for p in &found {
        let _ = writeln!(report, "  {p}");
    }
    assert!(
        found.is_empty(),
        "{} problem(s) with the stages of {DOC} (a module may use only stages listed before it):\n{report}",
        found.len()
    );
}

// ------------------------------------------------------------ the test's own parts

const FIXTURE_DOC: &str = "\
# Some doc

<!-- architecture:stages -->
```text
value   values
check   the checker
engine  the engine
```

<!-- architecture:being-removed -->
```text
run     old runner
```

<!-- architecture:exceptions -->
```text
value -> check   for now
```
";

fn fixture() -> Layering {
    parse_doc(FIXTURE_DOC).unwrap()
}

#[test]
fn the_doc_parser_reads_the_marked_blocks() {
    assert_eq!(
        fixture(),
        Layering {
            stages: vec!["value".into(), "check".into(), "engine".into()],
            being_removed: vec!["run".into()],
            exceptions: vec![("value".into(), "check".into())],
        }
    );
    // The optional blocks may be missing; the stages may not.
    let only_stages = FIXTURE_DOC.split("<!-- architecture:being").next().unwrap();
    assert_eq!(
        parse_doc(only_stages).unwrap().being_removed,
        Vec::<String>::new()
    );
    assert!(parse_doc("# nothing here")
        .unwrap_err()
        .contains("stage list is missing"));
    assert!(parse_doc("<!-- architecture:stages -->\ntext\n")
        .unwrap_err()
        .contains("not followed by a fenced block"));
    assert!(parse_doc("<!-- architecture:stages -->\n```\nvalue\n")
        .unwrap_err()
        .contains("not closed"));
    assert!(
        parse_doc("<!-- architecture:stages -->\n```\nvalue\nValue x\n```\n")
            .unwrap_err()
            .contains("`Value x` does not start with a module name")
    );
    assert!(
        parse_doc("<!-- architecture:stages -->\n```\nvalue\nvalue\n```\n")
            .unwrap_err()
            .contains("listed twice")
    );
    assert!(
        parse_doc(&FIXTURE_DOC.replace("value -> check", "value to check"))
            .unwrap_err()
            .contains("is not `from -> to")
    );
}

#[test]
fn only_code_counts_not_comments_or_strings() {
    let src = r##"
// use crate::engine; in a comment
/* crate::engine /* nested */ crate::engine */
/// crate::engine in a doc comment
let s = "crate::engine \" crate::engine";
let r = r#"crate::engine " crate::engine"#;
let c = '"'; let q = '\''; fn f<'a>(x: &'a str) {}
let r#type = crate::value::describe(x);
"##;
    assert_eq!(
        crate_references(&code_only(src)),
        vec![(8, "value".to_string())]
    );
    // Positions and line breaks survive.
    assert_eq!(code_only(src).lines().count(), src.lines().count());
}

#[test]
fn groups_and_inline_paths_are_references() {
    let code = "use crate::{\n    check::Checked,\n    value::{json, Value},\n    self,\n};\nfn f() { crate::engine::run(); $crate::diag::x!(); }\nuse flowcrate::x;\n";
    assert_eq!(
        crate_references(code),
        vec![
            (2, "check".to_string()),
            (3, "value".to_string()),
            (6, "engine".to_string()),
            (6, "diag".to_string()),
        ]
    );
}

#[test]
fn files_map_to_their_top_level_module() {
    assert_eq!(module_of(Path::new("value.rs")).as_deref(), Some("value"));
    assert_eq!(
        module_of(Path::new("check/expr.rs")).as_deref(),
        Some("check")
    );
    assert_eq!(
        module_of(Path::new("connectors/ccvshop/client.rs")).as_deref(),
        Some("connectors")
    );
    assert_eq!(module_of(Path::new("lib.rs")), None);
    assert_eq!(module_of(Path::new("main.rs")), None);
}

#[test]
fn every_disagreement_is_reported_with_its_place() {
    let files = |list: &[(&str, &str)]| -> Vec<(PathBuf, String)> {
        list.iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .collect()
    };
    let clean = files(&[
        ("value/mod.rs", "use crate::check::X;\n"), // the listed exception
        ("check/mod.rs", "use crate::value::Value;\n"),
        (
            "engine.rs",
            "fn f() { crate::check::run(crate::value::Value::Null) }\n",
        ),
        ("run/mod.rs", "use crate::engine;\n"),
        ("lib.rs", "pub mod value;\n"),
    ]);
    assert_eq!(problems(&fixture(), &clean), Vec::<String>::new());

    let broken = files(&[
        ("value/mod.rs", "\n\nuse crate::engine::Engine;\n"),
        ("check/mod.rs", "use crate::{value, engine};\n"),
        ("engine.rs", "use crate::cli;\n"),
        ("extra.rs", "\n"),
    ]);
    assert_eq!(
        problems(&fixture(), &broken),
        vec![
            "src/value/mod.rs:3: value → engine: `engine` is a later stage than `value`",
            "src/check/mod.rs:1: check → engine: `engine` is a later stage than `check`",
            "src/engine.rs:1: `crate::cli` is not a stage listed in docs/architecture.md",
            "src/extra is not in docs/architecture.md: add `extra` to the stages, where it belongs in the order",
            "src/run is gone: delete `run` from the being-removed list in docs/architecture.md",
            "nothing in src/value uses check any more: delete the exception `value -> check` in docs/architecture.md",
        ]
    );
    let missing_stage = files(&[("value.rs", "\n"), ("run.rs", "\n"), ("engine.rs", "\n")]);
    assert!(problems(&fixture(), &missing_stage).contains(
        &"docs/architecture.md lists the stage `check`, but there is no src/check.rs or src/check/"
            .to_string()
    ));
}

#[test]
fn the_emulator_crate_may_not_depend_on_flowc() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        emulator_crate_problems(dir.path()).is_empty(),
        "no crate yet"
    );
    std::fs::create_dir(dir.path().join("emulators")).unwrap();
    let manifest = dir.path().join("emulators/Cargo.toml");
    std::fs::write(
        &manifest,
        "[package]\nname = \"flowc-emulators\"\n\n[dependencies]\nserde = \"1\"\n",
    )
    .unwrap();
    assert!(emulator_crate_problems(dir.path()).is_empty());
    std::fs::write(
        &manifest,
        "[package]\nname = \"flowc-emulators\"\n\n[dev-dependencies]\nflowc = { path = \"..\" }\n",
    )
    .unwrap();
    assert_eq!(
        emulator_crate_problems(dir.path()),
        vec!["emulators/Cargo.toml:5: flowc-emulators depends on flowc; it must stand alone"]
    );
}
