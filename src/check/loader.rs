//! Loading a file and everything it imports. Imports resolve relative to
//! the importing file, then in each ancestor folder (so `import
//! "stdlib/x.flow"` finds the project's stdlib from any flow folder), then
//! on `FLOWC_PATH`, then in the stdlib built into the binary.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::{codes, Diagnostic};
use crate::source_map::{FileId, SourceMap, Span};
use crate::syntax::{self, ast};

/// The library that ships inside the binary: each connector's schema
/// module, as its registry entry names it.
pub fn builtin_stdlib() -> impl Iterator<Item = (&'static str, &'static str)> {
    crate::connectors::registry::REGISTRY
        .iter()
        .filter_map(|spec| spec.schema_module)
}

#[derive(Debug)]
pub struct Module {
    /// The file's stem: how schemas of this module are named (`ccvshop.orders`).
    pub name: Arc<str>,
    pub file: FileId,
    pub ast: ast::File,
    /// Folder for relative paths (tables, files); `None` for built-in modules.
    pub dir: Option<PathBuf>,
    /// (name bound in this module, module index, the import's span)
    pub imports: Vec<(Arc<str>, usize, Span)>,
    /// Given on the command line (warnings about unused names apply only here).
    pub is_root: bool,
}

#[derive(Debug, Default)]
pub struct Loaded {
    pub sources: SourceMap,
    /// Dependencies always come before the modules that import them.
    pub modules: Vec<Module>,
    pub diagnostics: Vec<Diagnostic>,
}

enum Located {
    Disk(PathBuf),
    Builtin(&'static str, &'static str),
}

pub struct Loader {
    loaded: Loaded,
    by_key: HashMap<String, usize>,
    /// Keys of the modules being loaded, innermost last (for cycle reports).
    stack: Vec<String>,
}

impl Default for Loader {
    fn default() -> Self {
        Self::new()
    }
}

impl Loader {
    pub fn new() -> Self {
        Loader {
            loaded: Loaded::default(),
            by_key: HashMap::new(),
            stack: Vec::new(),
        }
    }

    /// Loads a root file from disk.
    pub fn load_path(&mut self, path: &Path) -> Result<usize, Diagnostic> {
        let text = crate::source_map::read_text(path).map_err(|e| {
            let help = if path.is_dir() {
                "this is a folder: name one .flow file in it (`flowc check` also takes folders)"
            } else if e.kind() == std::io::ErrorKind::InvalidData {
                "flowc reads UTF-8 .flow files; most editors can save as UTF-8"
            } else {
                "check the path; flowc reads UTF-8 .flow files"
            };
            Diagnostic::new(
                &codes::E0010,
                format!("cannot read {}: {e}", path.display()),
            )
            .help(help)
        })?;
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        let name = display_name(path);
        let idx = self.load_text(name, Some(canonical), text);
        self.loaded.modules[idx].is_root = true;
        Ok(idx)
    }

    /// Loads a root text that is not on disk (tests, examples in docs).
    pub fn load_source(&mut self, name: &str, dir: Option<PathBuf>, text: &str) -> usize {
        let path = dir.map(|d| d.join(name));
        let idx = self.load_text(name.to_string(), path, text.to_string());
        self.loaded.modules[idx].is_root = true;
        idx
    }

    pub fn finish(self) -> Loaded {
        self.loaded
    }

    fn load_text(&mut self, name: String, path: Option<PathBuf>, text: String) -> usize {
        let key = path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| name.clone());
        if let Some(&idx) = self.by_key.get(&key) {
            return idx;
        }
        let dir = path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let module_name = stem(&name);
        let file = self.loaded.sources.add(name, path, text.clone());
        let (ast, mut diags) = syntax::parse(file, &text);
        self.loaded.diagnostics.append(&mut diags);
        self.stack.push(key.clone());
        let mut imports = Vec::new();
        for item in &ast.items {
            if let ast::Item::Import(import) = item {
                if let Some(idx) = self.import(import, dir.as_deref()) {
                    let bound = import
                        .alias
                        .as_ref()
                        .map(|a| a.name.clone())
                        .unwrap_or_else(|| stem(&import.path));
                    imports.push((bound, idx, import.span));
                }
            }
        }
        self.stack.pop();
        let idx = self.loaded.modules.len();
        self.loaded.modules.push(Module {
            name: module_name,
            file,
            ast,
            dir,
            imports,
            is_root: false,
        });
        self.by_key.insert(key, idx);
        idx
    }

    fn import(&mut self, import: &ast::Import, from_dir: Option<&Path>) -> Option<usize> {
        let Some(found) = locate(&import.path, from_dir) else {
            self.loaded.diagnostics.push(
                Diagnostic::new(&codes::E0003, format!("cannot find `{}`", import.path))
                    .at(import.path_span, "no such file")
                    .help(format!(
                        "imports are looked up relative to this file, then in each parent folder, then on FLOWC_PATH; built-in modules are {}",
                        builtin_stdlib().map(|(n, _)| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    )),
            );
            return None;
        };
        let key = match &found {
            Located::Disk(p) => p.display().to_string(),
            Located::Builtin(name, _) => name.to_string(),
        };
        if let Some(pos) = self.stack.iter().position(|k| *k == key) {
            let cycle: Vec<String> = self.stack[pos..]
                .iter()
                .map(|k| short(k))
                .chain([short(&key)])
                .collect();
            self.loaded.diagnostics.push(
                Diagnostic::new(&codes::E0004, "import cycle")
                    .at(import.path_span, "this import closes the cycle")
                    .note(format!("the cycle: {}", cycle.join(" → ")))
                    .help("move the shared declarations into a third file that both import"),
            );
            return None;
        }
        if let Some(&idx) = self.by_key.get(&key) {
            return Some(idx);
        }
        match found {
            Located::Disk(path) => match crate::source_map::read_text(&path) {
                Ok(text) => Some(self.load_text(display_name(&path), Some(path), text)),
                Err(e) => {
                    self.loaded.diagnostics.push(
                        Diagnostic::new(&codes::E0010, format!("cannot read `{}`: {e}", import.path))
                            .at(import.path_span, "imported here")
                            .help("imports must be readable UTF-8 text files; check the file's encoding and permissions"),
                    );
                    None
                }
            },
            Located::Builtin(name, text) => {
                Some(self.load_text(name.to_string(), None, text.to_string()))
            }
        }
    }
}

fn locate(import: &str, from_dir: Option<&Path>) -> Option<Located> {
    let mut candidates = Vec::new();
    if let Some(dir) = from_dir {
        let mut d = Some(dir);
        while let Some(dir) = d {
            candidates.push(dir.join(import));
            d = dir.parent();
        }
    } else {
        // A built-in module importing another built-in one.
        if let Some((name, text)) = builtin_stdlib().find(|(n, _)| n.ends_with(import)) {
            return Some(Located::Builtin(name, text));
        }
    }
    if let Some(paths) = std::env::var_os("FLOWC_PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|p| p.join(import)));
    }
    for c in candidates {
        if c.is_file() {
            return Some(Located::Disk(c.canonicalize().unwrap_or(c)));
        }
    }
    builtin_stdlib()
        .find(|(n, _)| *n == import)
        .map(|(n, t)| Located::Builtin(n, t))
}

fn stem(path: &str) -> Arc<str> {
    let file = path.rsplit('/').next().unwrap_or(path);
    Arc::from(file.strip_suffix(".flow").unwrap_or(file))
}

fn short(key: &str) -> String {
    key.rsplit('/').next().unwrap_or(key).to_string()
}

/// Paths are shown relative to the working folder when they are inside it.
pub fn display_name(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    match cwd.as_deref().and_then(|c| {
        abs.strip_prefix(c.canonicalize().unwrap_or(c.to_path_buf()))
            .ok()
    }) {
        Some(rel) => rel.display().to_string(),
        None => path.display().to_string(),
    }
}
