//! The registry of diagnostic codes. A code is never reused or renumbered:
//! users search for it and `docs/errors/<CODE>.md` explains it. The tests at
//! the bottom keep the registry, the docs and the snapshots in step.

/// One registered code.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Code {
    pub id: &'static str,
    /// Short, stable name used in JSON output.
    pub name: &'static str,
    pub summary: &'static str,
}

impl Code {
    pub fn is_warning(&self) -> bool {
        self.id.starts_with('W')
    }
}

macro_rules! codes {
    ($($id:ident $name:literal $summary:literal,)*) => {
        $(pub static $id: Code = Code { id: stringify!($id), name: $name, summary: $summary };)*
        /// Every registered code, in registry order.
        pub static ALL: &[&Code] = &[$(&$id),*];
    };
}

codes! {
    // Files, syntax and modules.
    E0001 "syntax-error" "The text is not valid .flow syntax",
    E0002 "invalid-literal" "A literal cannot be represented exactly",
    E0003 "import-not-found" "An imported file does not exist",
    E0004 "import-cycle" "Files import each other in a cycle",
    E0005 "duplicate-declaration" "Two declarations in one file share a name",
    E0006 "table-file" "A table's CSV or JSON file cannot be used",
    E0007 "too-deep" "An expression nests deeper than flowc allows",
    E0010 "io" "A file cannot be read or written",
    // Names.
    E0101 "unknown-field" "A record has no field of that name",
    E0102 "unknown-name" "A name is not declared",
    E0103 "unknown-function" "A function is not defined",
    E0104 "wrong-arity" "A function is called with the wrong number of arguments",
    E0105 "unknown-target-field" "The target resource has no field of that name",
    E0106 "unknown-schema" "A schema or resource is not declared",
    // Types.
    E0201 "mapping-type" "A value of one type is mapped onto a field of another",
    E0202 "argument-type" "A function argument has the wrong type",
    E0203 "operand-type" "An operator is applied to values it does not accept",
    E0204 "maybe-missing" "A value that may be missing is used where one is required",
    E0205 "max-length" "A value may be longer than the target field allows",
    E0206 "not-boolean" "A condition is not a boolean",
    E0207 "out-of-range" "A constant is outside the values a field accepts",
    // Flow structure.
    E0301 "missing-source" "A flow has no source",
    E0302 "missing-target" "A flow has no target",
    E0303 "missing-required-field" "A required target field is not mapped when creating",
    E0304 "mapped-twice" "A target field is mapped more than once",
    E0305 "key-field" "The key is not a usable field of the target",
    E0306 "readonly-field" "A read-only field is mapped",
    E0307 "lookup-may-miss" "A table lookup can miss and nothing handles the miss",
    E0308 "duplicate-clause" "A clause that may appear once appears twice",
    E0309 "keep-unmapped" "`keep` names a field that is never mapped",
    // Connections and secrets.
    E0401 "literal-secret" "A secret is written in the flow file",
    E0402 "connection-setting" "A connection setting is unknown, missing or invalid",
    E0403 "no-connection" "A resource is used but its module declares no connection",
    // In-language tests.
    E0501 "test-definition" "A test block cannot be run as written",

    // Setting up: `flowc init` and `flowc doctor`.
    E0601 "init-answer" "An answer `flowc init` needs is missing or invalid",
    E0602 "would-overwrite" "`flowc init` would overwrite a file that exists",
    E0603 "config-file" "flowc.toml cannot be used as written",
    E0604 "missing-scope" "The eAccounting sign-in lacks a scope the flows need",
    E0605 "module-not-active" "The eAccounting company lacks what a flow needs (product variant or module)",
    E0606 "webhook-missing" "A CCV Shop webhook that flowc.toml names is not registered",
    E0607 "clock-skew" "This machine's clock differs from a service's beyond its tolerance",
    // Run time: each names the record and field it happened on.
    E0901 "missing-value" "A required field has no value for this record",
    E0902 "runtime-type" "A value has an unexpected type for this record",
    E0903 "lookup-miss" "A table has no row for this key and no default",
    E0904 "arithmetic" "An arithmetic operation failed (division by zero, overflow)",
    E0905 "function-failed" "A function could not compute a result for this record",
    E0906 "bad-input" "An input record could not be decoded",
    E0907 "number-range" "A number is beyond the exact decimal range",
    E0908 "validation" "A mapped record breaks a rule of the target schema",
    E0909 "explicit-failure" "The flow rejected this record with fail()",
    E0910 "unresolved-reference" "A lookup by natural key found no record of the resource, or several",
    // Warnings.
    W0001 "unused" "A declaration is never used",
    W0002 "constant-condition" "A condition is always true or always false",
    W0003 "shadowed" "A name hides a source field or an outer name",
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut seen = HashSet::new();
        let mut names = HashSet::new();
        for code in ALL {
            assert!(seen.insert(code.id), "{} registered twice", code.id);
            assert!(names.insert(code.name), "name {} used twice", code.name);
            assert_eq!(code.id.len(), 5, "{} must look like E0123", code.id);
            assert!(code.id.starts_with('E') || code.id.starts_with('W'));
        }
    }

    #[test]
    fn every_code_has_a_docs_page() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors");
        for code in ALL {
            let page = root.join(format!("{}.md", code.id));
            let text = std::fs::read_to_string(&page)
                .unwrap_or_else(|_| panic!("{} has no page at {}", code.id, page.display()));
            assert!(
                text.starts_with(&format!("# {}", code.id)),
                "{} must start with `# {}`",
                page.display(),
                code.id
            );
        }
        // And no page documents a code that does not exist.
        for entry in std::fs::read_dir(&root).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name == "README.md" {
                continue;
            }
            let id = name.trim_end_matches(".md");
            assert!(
                ALL.iter().any(|c| c.id == id),
                "docs/errors/{name} documents no registered code"
            );
        }
    }
}
