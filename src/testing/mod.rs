//! `flowc test`: runs the `test "…" { … }` blocks of a program offline,
//! against an in-memory target, and explains every failure with a diff.

use crate::connectors::memory::{MemoryStore, WriteKind};
use crate::eval::{Outcome, Runtime};
use crate::program::{Expectation, Program, TestCase};
use crate::syntax::ast::WriteVerb;
use crate::types::validate;
use crate::value::json::to_string_pretty;
use crate::value::{Record, Value};

#[derive(Debug)]
pub struct TestResult {
    pub name: String,
    /// `None` when the test passed; otherwise why not, ready to print.
    pub failure: Option<String>,
}

pub fn run_tests(program: &Program) -> Vec<TestResult> {
    program
        .tests
        .iter()
        .map(|t| TestResult {
            name: t.name.to_string(),
            failure: run_one(program, t).err(),
        })
        .collect()
}

/// What running the flow on the test input did.
enum Observed {
    Skipped,
    Failed(String),
    Done {
        main: (WriteVerb, Record),
        store: MemoryStore,
    },
}

fn run_one(program: &Program, test: &TestCase) -> Result<(), String> {
    let runtime = Runtime::new(program);
    let flow = &program.flows[test.flow];
    let input = runtime
        .eval_standalone(&test.input, 1)
        .map_err(|e| format!("the input cannot be computed: {}", e.message))?;
    let mut store = MemoryStore::new();
    for (schema, records) in &test.given {
        let name = &program.schemas[*schema].name;
        match runtime.eval_standalone(records, 1).map_err(|e| e.message)? {
            Value::List(items) => {
                for item in items.iter() {
                    let r = item
                        .as_record()
                        .ok_or(format!("`given {name}` must list records"))?;
                    store.insert(name, r.clone());
                }
            }
            Value::Record(r) => store.insert(name, (*r).clone()),
            _ => {
                return Err(format!(
                    "`given {name}` must be a record or a list of records"
                ))
            }
        }
    }
    let observed = match runtime.run_flow(flow, &input, &mut store) {
        Ok(Outcome::Skipped) => Observed::Skipped,
        Err(e) => Observed::Failed(format!("{}: {}", e.code.id, describe_error(&e))),
        Ok(Outcome::Mapped(m)) => {
            let target = flow.target_schema.map(|i| &program.schemas[i]);
            let existing = match (&m.key, target) {
                (Some((path, key)), Some(schema)) => store
                    .find(&schema.name, path, key)
                    .and_then(|i| store.get(&schema.name, i).cloned()),
                _ => None,
            };
            let validated = match (target, &existing) {
                (Some(schema), None) => validate::validate(&m.payload.create, &schema.record, true)
                    .map_err(crate::eval::EvalError::from),
                (Some(schema), Some(_)) => {
                    validate::validate(&m.payload.update, &schema.record, false)
                        .map_err(crate::eval::EvalError::from)
                }
                _ => Ok(()),
            };
            match validated {
                Err(e) => Observed::Failed(format!("{}: {}", e.code.id, describe_error(&e))),
                Ok(()) => {
                    let main = match existing {
                        None => (WriteVerb::Create, m.payload.create),
                        Some(current) => {
                            let mut after = current.clone();
                            for (k, v) in m.payload.update.iter() {
                                after.insert(k.clone(), v.clone());
                            }
                            let verb = if after == current {
                                WriteVerb::Unchanged
                            } else {
                                WriteVerb::Update
                            };
                            (verb, m.payload.update)
                        }
                    };
                    Observed::Done { main, store }
                }
            }
        }
    };
    for expectation in &test.expect {
        check_expectation(&runtime, program, expectation, &observed)?;
    }
    Ok(())
}

fn describe_error(e: &crate::eval::EvalError) -> String {
    match &e.field {
        Some(f) => format!("field `{f}`: {}", e.message),
        None => e.message.clone(),
    }
}

fn check_expectation(
    runtime: &Runtime,
    program: &Program,
    expectation: &Expectation,
    observed: &Observed,
) -> Result<(), String> {
    let what_happened = || match observed {
        Observed::Skipped => "the record was skipped by the flow's `where` filter".to_string(),
        Observed::Failed(e) => format!("the record failed: {e}"),
        Observed::Done {
            main: (verb, payload),
            ..
        } => {
            format!(
                "the flow would {} this record:\n{}",
                verb.as_str(),
                indent(&to_string_pretty(&Value::record(payload.clone())))
            )
        }
    };
    match expectation {
        Expectation::Skip(_, _) => match observed {
            Observed::Skipped => Ok(()),
            _ => Err(format!(
                "expected the record to be skipped, but {}",
                what_happened()
            )),
        },
        Expectation::Error(text, _) => match observed {
            Observed::Failed(message) => match text {
                Some(t) if !message.contains(&**t) => Err(format!(
                    "expected an error containing {t:?}, but the error was: {message}"
                )),
                _ => Ok(()),
            },
            _ => Err(format!(
                "expected the record to fail, but {}",
                what_happened()
            )),
        },
        Expectation::Write {
            verb,
            schema,
            payload,
            ..
        } => {
            let expected = runtime
                .eval_standalone(payload, 1)
                .map_err(|e| format!("the expected payload cannot be computed: {}", e.message))?;
            let Observed::Done { main, store } = observed else {
                return Err(format!(
                    "expected {} of a record, but {}",
                    verb.as_str(),
                    what_happened()
                ));
            };
            let actual = match schema {
                None => {
                    if main.0 != *verb {
                        return Err(format!(
                            "expected the flow to {} the record, but {}",
                            verb.as_str(),
                            what_happened()
                        ));
                    }
                    Value::record(main.1.clone())
                }
                Some(i) => {
                    let name = &program.schemas[*i].name;
                    let kind = match verb {
                        WriteVerb::Create => WriteKind::Create,
                        WriteVerb::Update => WriteKind::Update,
                        WriteVerb::Unchanged => WriteKind::Unchanged,
                    };
                    let writes: Vec<_> =
                        store.writes.iter().filter(|w| w.schema == *name).collect();
                    match writes.iter().find(|w| w.kind == kind) {
                        Some(w) => Value::record(w.payload.clone()),
                        None => {
                            let seen: Vec<String> = writes
                                .iter()
                                .map(|w| format!("{:?}", w.kind).to_lowercase())
                                .collect();
                            return Err(format!(
                                "expected a {} of {name}, but the flow did {}",
                                verb.as_str(),
                                if seen.is_empty() {
                                    "no write to it".to_string()
                                } else {
                                    seen.join(", ")
                                }
                            ));
                        }
                    }
                }
            };
            // Compare what would be sent: a date value equals its ISO text.
            if crate::value::json::canonical(&actual) == crate::value::json::canonical(&expected) {
                Ok(())
            } else {
                Err(format!(
                    "the {} payload differs (- expected, + actual):\n{}",
                    verb.as_str(),
                    diff(&to_string_pretty(&expected), &to_string_pretty(&actual))
                ))
            }
        }
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A line diff (longest common subsequence), small and dependency-free.
pub fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("    {}", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push(format!("  - {}", a[i]));
            i += 1;
        } else {
            out.push(format!("  + {}", b[j]));
            j += 1;
        }
    }
    out.join("\n")
}
