//! The text format both emulators write their models in: a block per
//! resource, one field per indented line. Each emulator reads the types
//! and flags in its own terms; this module only splits the text.
//!
//! ```text
//! # A comment runs to the end of the line.
//! orders                     <- a resource: its name at the start of a line
//!   id      int   hint="read-only"
//!   status  int   null rw range=1..14
//! ```
//!
//! A field line is a name, a type and any number of flags: bare words
//! (`null`) or `key=value`, where a value with spaces is quoted.
//!
//! Fields several resources share are written once, in a group: a block
//! whose name starts with `@`. `include @group` in a resource stands for
//! the group's fields, in place. Groups are not resources themselves.

use std::fmt;
use std::sync::OnceLock;

/// A model as the emulators use it: a named list of typed fields.
#[derive(Debug, PartialEq)]
pub struct Model<F> {
    pub name: String,
    pub fields: Vec<F>,
}

/// A field knows its own name.
pub trait Named {
    fn name(&self) -> &str;
}

impl<F: Named> Model<F> {
    pub fn field(&self, name: &str) -> Option<&F> {
        self.fields.iter().find(|f| f.name() == name)
    }
}

/// The models of one bundled file, read on first use.
pub struct Catalogue<F: 'static> {
    /// The file's path in the crate, for messages.
    file: &'static str,
    text: &'static str,
    field: fn(&Line) -> Result<F, ModelError>,
    models: OnceLock<Vec<Model<F>>>,
}

impl<F> Catalogue<F> {
    pub const fn new(
        file: &'static str,
        text: &'static str,
        field: fn(&Line) -> Result<F, ModelError>,
    ) -> Self {
        Self {
            file,
            text,
            field,
            models: OnceLock::new(),
        }
    }

    /// Every model, in file order. The files are compiled in and read by
    /// every test, so one that does not read is a bug in the emulator,
    /// reported with the file's name.
    pub fn all(&self) -> &[Model<F>] {
        self.models.get_or_init(|| {
            read(self.text, self.field).unwrap_or_else(|e| panic!("{}: {e}", self.file))
        })
    }

    /// The model called `name`. The names the emulators use are fixed
    /// words, all exercised by their tests, so an unknown one is a bug.
    pub fn get(&self, name: &str) -> &Model<F> {
        self.all()
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no model '{name}' in {}", self.file))
    }
}

fn read<F>(
    text: &str,
    field: fn(&Line) -> Result<F, ModelError>,
) -> Result<Vec<Model<F>>, ModelError> {
    parse(text)?
        .into_iter()
        .map(|block| {
            let fields = block.fields.iter().map(field).collect::<Result<_, _>>()?;
            Ok(Model {
                name: block.name,
                fields,
            })
        })
        .collect()
}

/// [`Named`] for a field type with a `name: String`.
macro_rules! named {
    ($field:ty) => {
        impl $crate::models::Named for $field {
            fn name(&self) -> &str {
                &self.name
            }
        }
    };
}
pub(crate) use named;

/// One resource as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub name: String,
    pub fields: Vec<Line>,
}

/// One field line as written.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// 1-based, for messages.
    pub number: usize,
    pub name: String,
    pub ty: String,
    pub flags: Vec<String>,
    pub values: Vec<(String, String)>,
}

impl Line {
    pub fn has(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// An error about this line.
    pub fn error(&self, message: impl fmt::Display) -> ModelError {
        ModelError(format!("line {}: {}: {message}", self.number, self.name))
    }
}

/// A model file that does not read. The files are compiled in, so this is
/// a bug in the emulator, reported by its tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelError(pub String);

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The resources of a model file, in order, with groups included.
pub fn parse(text: &str) -> Result<Vec<Block>, ModelError> {
    let blocks = parse_blocks(text)?;
    let (groups, resources): (Vec<Block>, Vec<Block>) =
        blocks.into_iter().partition(|b| b.name.starts_with('@'));
    resources
        .into_iter()
        .map(|b| {
            let fields = included(&b.fields, &groups, 0)?;
            Ok(Block { fields, ..b })
        })
        .collect()
}

/// `fields` with every `include @group` line replaced by the group's fields.
fn included(fields: &[Line], groups: &[Block], depth: usize) -> Result<Vec<Line>, ModelError> {
    let mut out = Vec::new();
    for line in fields {
        if line.name != "include" {
            out.push(line.clone());
            continue;
        }
        let group = groups
            .iter()
            .find(|g| g.name == line.ty)
            .ok_or_else(|| line.error(format!("no group {}", line.ty)))?;
        if depth > 8 {
            return Err(line.error("groups include each other in a circle"));
        }
        out.extend(included(&group.fields, groups, depth + 1)?);
    }
    Ok(out)
}

fn parse_blocks(text: &str) -> Result<Vec<Block>, ModelError> {
    let mut blocks: Vec<Block> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let tokens = tokens(raw).map_err(|e| ModelError(format!("line {number}: {e}")))?;
        let Some((first, rest)) = tokens.split_first() else {
            continue;
        };
        if !raw.starts_with(char::is_whitespace) {
            if !rest.is_empty() {
                return Err(ModelError(format!(
                    "line {number}: a resource line is one name"
                )));
            }
            blocks.push(Block {
                name: first.clone(),
                fields: Vec::new(),
            });
            continue;
        }
        let block = blocks
            .last_mut()
            .ok_or_else(|| ModelError(format!("line {number}: a field before any resource")))?;
        block.fields.push(field_line(number, first, rest)?);
    }
    Ok(blocks)
}

fn field_line(number: usize, name: &str, rest: &[String]) -> Result<Line, ModelError> {
    let (ty, flags) = rest
        .split_first()
        .ok_or_else(|| ModelError(format!("line {number}: {name} has no type")))?;
    let mut line = Line {
        number,
        name: name.to_string(),
        ty: ty.clone(),
        flags: Vec::new(),
        values: Vec::new(),
    };
    for flag in flags {
        match flag.split_once('=') {
            Some((k, v)) => line.values.push((k.to_string(), v.to_string())),
            None => line.flags.push(flag.clone()),
        }
    }
    Ok(line)
}

/// Words of a line without its comment; `"…"` keeps spaces (and `#`).
fn tokens(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            '#' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if quoted {
        return Err("a quote is not closed".into());
    }
    if !word.is_empty() {
        out.push(word);
    }
    Ok(out)
}

/// `"A..B"`, `"A.."` (no upper end) as inclusive bounds.
pub fn range(text: &str) -> Option<(Option<i64>, Option<i64>)> {
    let (lo, hi) = text.split_once("..")?;
    let bound = |s: &str| match s {
        "" => Some(None),
        s => s.parse().ok().map(Some),
    };
    Some((bound(lo)?, bound(hi)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_fields_flags_and_comments() {
        let text = "# heading\norders  # the orders\n  id  int  hint=\"read # only\"\n\n  status int null range=1..14\nlink\n  href string null\n";
        let blocks = parse(text).expect("parses");
        assert_eq!(blocks.len(), 2);
        let id = &blocks[0].fields[0];
        assert_eq!((id.name.as_str(), id.ty.as_str()), ("id", "int"));
        assert_eq!(id.value("hint"), Some("read # only"));
        let status = &blocks[0].fields[1];
        assert!(status.has("null") && !status.has("rw"));
        assert_eq!(
            status.value("range").and_then(range),
            Some((Some(1), Some(14)))
        );
        assert_eq!(blocks[1].fields[0].number, 7);
    }

    #[test]
    fn groups_are_included_in_place_and_not_listed() {
        let text =
            "@name\n  first string\n  last string\nperson\n  id int\n  include @name\n  age int\n";
        let blocks = parse(text).expect("parses");
        assert_eq!(blocks.len(), 1);
        let names: Vec<_> = blocks[0].fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["id", "first", "last", "age"]);
        assert!(parse("p\n  include @missing\n").is_err());
        assert!(parse("@a\n  include @a\np\n  include @a\n").is_err());
    }

    #[test]
    fn mistakes_name_their_line() {
        assert!(parse("  id int\n").is_err_and(|e| e.0.starts_with("line 1")));
        assert!(parse("orders\n  id\n").is_err_and(|e| e.0.contains("no type")));
        assert!(parse("orders x\n").is_err());
        assert!(parse("orders\n  id int hint=\"open\n").is_err());
        assert_eq!(range("1.."), Some((Some(1), None)));
        assert_eq!(range("x..2"), None);
    }
}
