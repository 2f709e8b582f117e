//! Diagnostics: one type for every problem flowc reports, at check time and at
//! run time. Rendered for people with miette, and as JSON for editors and CI.

pub mod codes;
mod render;

pub use codes::Code;
pub use render::{render_human, render_json, to_json_value, RenderOptions};

use crate::source_map::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Error,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: &'static Code,
    pub message: String,
    /// The smallest culprit. `None` only for problems that belong to no text
    /// (an input line that is not JSON is labelled by record, not by span).
    pub primary: Option<Label>,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn new(code: &'static Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            primary: None,
            secondary: vec![],
            help: None,
            notes: vec![],
        }
    }
    pub fn at(mut self, span: Span, text: impl Into<String>) -> Self {
        self.primary = Some(Label {
            span,
            text: text.into(),
        });
        self
    }
    pub fn also(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
    /// Help for a name that may be misspelt: "did you mean `x`?" when one of
    /// the `candidates` is close enough to be what was meant, else `otherwise`.
    pub fn help_typo<'a>(
        self,
        wrong: &str,
        candidates: impl IntoIterator<Item = &'a str>,
        otherwise: impl Into<String>,
    ) -> Self {
        match did_you_mean(wrong, candidates) {
            Some(s) => self.help(format!("did you mean `{s}`?")),
            None => self.help(otherwise),
        }
    }
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
    pub fn severity(&self) -> Severity {
        if self.code.is_warning() {
            Severity::Warning
        } else {
            Severity::Error
        }
    }
    pub fn is_error(&self) -> bool {
        self.severity() == Severity::Error
    }
}

/// Orders diagnostics by file and position, so output is stable.
pub fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by_key(|d| {
        d.primary
            .as_ref()
            .map(|l| (l.span.file, l.span.start, l.span.end))
    });
}

/// "did you mean `email`?" — the closest candidate by normalised
/// Damerau-Levenshtein similarity, if any is close enough to be a typo.
pub fn did_you_mean<'a>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wrong_lower = wrong.to_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::normalized_damerau_levenshtein(&wrong_lower, &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("emial", ["email", "zipcode"]), Some("email"));
        assert_eq!(did_you_mean("EMAIL", ["email"]), Some("email"));
        assert_eq!(did_you_mean("xyz", ["email", "zipcode"]), None);
    }

    #[test]
    fn typo_help_suggests_or_falls_back() {
        let d = || Diagnostic::new(&codes::E0101, "no such field");
        let help = |d: Diagnostic| d.help.unwrap();
        assert_eq!(
            help(d().help_typo("emial", ["email"], "fields: email")),
            "did you mean `email`?"
        );
        assert_eq!(
            help(d().help_typo("xyz", ["email"], "fields: email")),
            "fields: email"
        );
    }
}
