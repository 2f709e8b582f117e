//! The expect sink: `flowc test` runs each `test "…" { … }` block through
//! the engine — the same read, evaluate, decide and apply steps as a run —
//! against in-memory connectors seeded with the test's `given` records and an
//! in-memory state store, then compares the decisions with the test's
//! expectations and explains every difference with a diff.

use super::{Options, PlanEntry, Session};
use crate::eval::Runtime;
use crate::program::{Expectation, Program, TestCase};
use crate::syntax::ast::WriteVerb;
use crate::value::json::to_string_pretty;
use crate::value::{Record, Value};

#[derive(Debug)]
pub struct TestResult {
    pub name: String,
    /// `None` when the test passed; otherwise why not, ready to print.
    pub failure: Option<String>,
}

pub fn run_tests(program: &Program) -> Vec<TestResult> {
    run_tests_with(program, &|_| {})
}

/// Runs every test, letting `prepare` adjust each test's engine (tests of
/// the tests seed bugs this way).
pub(crate) fn run_tests_with(
    program: &Program,
    prepare: &dyn Fn(&mut super::Engine),
) -> Vec<TestResult> {
    program
        .tests
        .iter()
        .map(|t| TestResult {
            name: t.name.to_string(),
            failure: run_one(program, t, prepare).err(),
        })
        .collect()
}

/// What running the flow on the test input did.
enum Observed {
    /// With the reason `skip("…")` gave, if any.
    Skipped(Option<String>),
    Failed(String),
    Done {
        main: (WriteVerb, Record),
        /// Every related record's decision.
        related: Vec<PlanEntry>,
    },
}

fn run_one(
    program: &Program,
    test: &TestCase,
    prepare: &dyn Fn(&mut super::Engine),
) -> Result<(), String> {
    let runtime = Runtime::new(program);
    let flow = &program.flows[test.flow];
    let input = runtime
        .eval_standalone(&test.input, 1)
        .map_err(|e| format!("the input cannot be computed: {}", e.message))?;
    let session = Session::in_memory(program).map_err(|e| e.to_string())?;
    for (schema, records) in &test.given {
        seed(program, &runtime, &session, *schema, records)?;
    }
    let options = Options {
        record_decisions: true,
        concurrency: 1,
        ..Options::default()
    };
    let mut engine = session.engine(program, flow, options);
    prepare(&mut engine);
    let observed = match engine.run_records(&session.flow_hash, vec![input]) {
        Ok(report) => observe(report),
        // Settings that name nothing stop the run before the record: for a
        // test that is what happened to it (`expect error "E0910"`).
        Err(super::EngineError::Unresolved(d)) => {
            Observed::Failed(format!("{}: {}", d.code.id, d.message))
        }
        Err(e) => return Err(format!("the flow could not run: {e}")),
    };
    for expectation in &test.expect {
        check_expectation(&runtime, program, expectation, &observed)?;
    }
    Ok(())
}

/// Puts a test's `given` records into the service of their schema.
fn seed(
    program: &Program,
    runtime: &Runtime,
    session: &Session,
    schema: usize,
    records: &crate::program::Expr,
) -> Result<(), String> {
    let schema = &program.schemas[schema];
    let name = &schema.name;
    let list = match runtime.eval_standalone(records, 1).map_err(|e| e.message)? {
        Value::List(items) => items
            .iter()
            .map(|item| {
                item.as_record()
                    .cloned()
                    .ok_or(format!("`given {name}` must list records"))
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Record(r) => vec![(*r).clone()],
        _ => {
            return Err(format!(
                "`given {name}` must be a record or a list of records"
            ))
        }
    };
    let service = session
        .connections
        .get(schema.connection)
        .ok_or(format!("no service stands in for {name}"))?;
    let resource = schema.resource.as_deref().unwrap_or(name);
    for record in list {
        service
            .create(resource, &record)
            .map_err(|e| format!("`given {name}`: {e}"))?;
    }
    Ok(())
}

/// Reads the decisions of a one-record run.
fn observe(report: super::Report) -> Observed {
    if let Some((_, diag)) = report.failures.first() {
        return Observed::Failed(format!("{}: {}", diag.code.id, diag.message));
    }
    let (related, main): (Vec<PlanEntry>, Vec<PlanEntry>) =
        report.plan.into_iter().partition(|e| e.related);
    match main.into_iter().last() {
        Some(e) if e.action == "skip" => {
            Observed::Skipped(e.reason.filter(|r| r != super::FILTERED))
        }
        Some(e) => {
            let verb = match e.action {
                "create" => WriteVerb::Create,
                "update" => WriteVerb::Update,
                _ => WriteVerb::Unchanged,
            };
            Observed::Done {
                main: (verb, e.payload.unwrap_or_default()),
                related,
            }
        }
        None => Observed::Failed("the engine made no decision for the record".into()),
    }
}

fn check_expectation(
    runtime: &Runtime,
    program: &Program,
    expectation: &Expectation,
    observed: &Observed,
) -> Result<(), String> {
    let what_happened = || match observed {
        Observed::Skipped(None) => {
            "the record was skipped by the flow's `where` filter".to_string()
        }
        Observed::Skipped(Some(reason)) => format!("the record was skipped: {reason}"),
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
        Expectation::Skip(text, _) => match observed {
            Observed::Skipped(reason) => match (text, reason) {
                (Some(t), Some(r)) if !r.contains(&**t) => Err(format!(
                    "expected the record to be skipped because {t:?}, but it was skipped because: {r}"
                )),
                (Some(t), None) => Err(format!(
                    "expected the record to be skipped because {t:?}, but it was skipped by the `where` filter, without a reason"
                )),
                _ => Ok(()),
            },
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
            let Observed::Done { main, related } = observed else {
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
                    let kind = verb.as_str();
                    let writes: Vec<_> = related.iter().filter(|w| *w.resource == **name).collect();
                    match writes.iter().find(|w| w.action == kind) {
                        Some(w) => Value::record(w.payload.clone().unwrap_or_default()),
                        None => {
                            let seen: Vec<String> =
                                writes.iter().map(|w| w.action.to_string()).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::decide::Decided;

    fn flagship() -> Program {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("flows/ccvshop-eaccounting/orders.test.flow");
        let checked = crate::check::check_path(&path).expect("the flagship flow loads");
        assert!(!checked.has_errors(), "{:?}", checked.diagnostics);
        checked.program
    }

    fn failures(results: &[TestResult]) -> Vec<&str> {
        results
            .iter()
            .filter(|r| r.failure.is_some())
            .map(|r| r.name.as_str())
            .collect()
    }

    /// `flowc test` runs the engine's decide step: a bug seeded there — it
    /// forgets that a record exists and creates it again — fails the
    /// flagship flow's tests, which pass without it.
    #[test]
    fn a_bug_seeded_in_the_decide_step_fails_the_flagship_tests() {
        let program = flagship();
        let clean = run_tests(&program);
        assert!(clean.len() >= 3, "the flagship flow has tests");
        assert_eq!(failures(&clean), Vec::<&str>::new());

        fn forget_existing(d: Decided) -> Decided {
            match d {
                Decided::Update { .. } | Decided::Unchanged { .. } => Decided::Create,
                other => other,
            }
        }
        let seeded = run_tests_with(&program, &|engine| {
            engine.seeded_bug = Some(forget_existing)
        });
        let failed = failures(&seeded);
        assert!(
            !failed.is_empty(),
            "no test noticed the seeded bug: {:?}",
            seeded.iter().map(|r| &r.name).collect::<Vec<_>>()
        );
        let why = seeded
            .iter()
            .find_map(|r| r.failure.as_deref())
            .unwrap_or_default();
        assert!(why.contains("expected"), "{why}");
    }
}
