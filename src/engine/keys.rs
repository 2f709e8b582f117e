//! How a flow's `key` finds the target record it names, and when two
//! records' keys are one.
//!
//! * **Normalised like the key.** A key computed through built-in calls at
//!   its top (`email ?? … | normalize_email | truncate(255)`) is matched
//!   against the target's existing values put through the same calls, so a
//!   customer typed `Jan@Example.NL` in eAccounting is the one the key
//!   `jan@example.nl` names. The key's own functions say what "the same"
//!   means; nothing else is folded.
//! * **Differs only in case.** A key the target holds in another case only
//!   (`sku-1` where the article is `SKU-1`) is not the same record, and the
//!   services flowc writes to refuse it as a duplicate (eAccounting's
//!   numbers ignore case). Such a record is skipped with a reason naming the
//!   other one — never merged into it, never a failed write.
//! * **Claimed in this run.** Two source records whose new keys differ only
//!   in case (or not at all) would both be created; the first to be decided
//!   claims the key for the run, the second is skipped with a reason.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::functions::Builtin;
use crate::program::Expr;
use crate::value::{natural_text, Value};

/// The built-in calls at the top of a key expression, outermost first,
/// each with its constant arguments after the first.
#[derive(Debug, Clone, Default)]
pub(super) struct Normaliser(Vec<(&'static Builtin, Vec<Value>)>);

impl Normaliser {
    /// `truncate(normalize_email(x), 255)` → [truncate(·, 255), normalize_email(·)].
    /// The chain stops at anything that is not a built-in call whose other
    /// arguments are constants (a field, `??`, an interpolation).
    pub(super) fn of(key: &Expr) -> Normaliser {
        let mut chain = Vec::new();
        let mut at = key;
        while let Expr::Builtin { func, args, .. } = at {
            let Some((first, rest)) = args.split_first() else {
                break;
            };
            let constants: Option<Vec<Value>> = rest
                .iter()
                .map(|a| match a {
                    Expr::Const(v) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            let Some(constants) = constants else { break };
            chain.push((*func, constants));
            at = first;
        }
        Normaliser(chain)
    }

    /// A value the target holds, as the key's functions would make it; the
    /// text itself when they cannot (a value they refuse).
    pub(super) fn apply(&self, text: &str) -> String {
        let mut value = Value::str(text);
        for (func, constants) in self.0.iter().rev() {
            let mut args = Vec::with_capacity(1 + constants.len());
            args.push(value);
            args.extend(constants.iter().cloned());
            match (func.eval)(&args) {
                Ok(v) => value = v,
                Err(_) => return text.to_string(),
            }
        }
        value.to_text().unwrap_or_else(|| text.to_string())
    }

    /// Names the chain, so that indexes built with different ones are kept apart.
    pub(super) fn name(&self) -> String {
        self.0
            .iter()
            .map(|(f, c)| {
                let args: Vec<String> = c.iter().filter_map(Value::to_text).collect();
                format!("{}({})", f.name, args.join(","))
            })
            .collect::<Vec<_>>()
            .join("|")
    }
}

/// Keys of records decided "create" in this run: (resource, folded key) →
/// (the key as written, the source record that claimed it).
#[derive(Default)]
pub(super) struct Claims(Mutex<HashMap<(String, String), (String, String)>>);

impl Claims {
    /// Claims `key` of `resource` for `source`; the claim of another source
    /// record when there is one already (nothing is claimed then).
    pub(super) fn claim(
        &self,
        resource: &str,
        key: &str,
        source: &str,
    ) -> Option<(String, String)> {
        let mut claims = super::lock(&self.0);
        let slot = (resource.to_string(), natural_text(key));
        match claims.get(&slot) {
            Some((k, s)) if s != source => Some((k.clone(), s.clone())),
            Some(_) => None,
            None => {
                claims.insert(slot, (key.to_string(), source.to_string()));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source_map::Span;

    fn call(name: &str, args: Vec<Expr>) -> Expr {
        Expr::Builtin {
            func: crate::functions::all()
                .find(|b| b.name == name)
                .expect("builtin"),
            args,
            span: Span::default(),
        }
    }

    #[test]
    fn the_chain_of_a_key_normalises_what_the_target_holds() {
        let key = call(
            "truncate",
            vec![
                call("normalize_email", vec![Expr::Input("email".into())]),
                Expr::Const(Value::int(12)),
            ],
        );
        let n = Normaliser::of(&key);
        assert_eq!(n.name(), "truncate(12)|normalize_email()");
        assert_eq!(n.apply("  Jan@Example.NL "), "jan@example.");
        // A function that refuses the value leaves it as it is.
        let n = Normaliser::of(&call("to_int", vec![Expr::Input("x".into())]));
        assert_eq!(n.apply("abc"), "abc");
        // A field is no chain at all; a computed second argument ends it.
        assert_eq!(
            Normaliser::of(&Expr::Input("sku".into())).apply("SKU-1"),
            "SKU-1"
        );
        let computed = call(
            "truncate",
            vec![Expr::Input("a".into()), Expr::Input("n".into())],
        );
        assert_eq!(Normaliser::of(&computed).name(), "");
    }

    #[test]
    fn a_key_is_claimed_once_per_run_ignoring_case() {
        let claims = Claims::default();
        assert_eq!(claims.claim("articles", "SKU-1", "7"), None);
        assert_eq!(
            claims.claim("articles", "SKU-1", "7"),
            None,
            "the claimant itself"
        );
        assert_eq!(
            claims.claim("articles", " sku-1", "8"),
            Some(("SKU-1".into(), "7".into()))
        );
        assert_eq!(
            claims.claim("customers", "sku-1", "8"),
            None,
            "another resource"
        );
    }
}
