//! Turning [`Diagnostic`]s into text (miette's graphical report) and JSON.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};

use super::{Diagnostic, Severity};
use crate::source_map::SourceMap;

#[derive(Debug, Clone, Copy)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            color: false,
            width: 100,
        }
    }
}

/// A diagnostic bound to its source text: the shape miette wants.
struct Bound<'a> {
    diag: &'a Diagnostic,
    source: Option<NamedSource<String>>,
    labels: Vec<LabeledSpan>,
    help: Option<String>,
}

impl fmt::Debug for Bound<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl fmt::Display for Bound<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for Bound<'_> {}

impl miette::Diagnostic for Bound<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diag.code.id))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            None
        } else {
            Some(Box::new(self.labels.iter().cloned()))
        }
    }
}

/// Lines longer than this are not drawn: the report names the position in
/// words instead (miette cannot draw a label past column 65535, and nobody
/// reads such a line on a terminal).
const LONGEST_DRAWN_LINE: usize = 1000;

/// Whether a label's line (or lines) is too long to draw.
fn on_long_line(text: &str, span: crate::source_map::Span) -> bool {
    let (start, end) = (span.start as usize, (span.end as usize).min(text.len()));
    let before = text.get(..start).unwrap_or(text);
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_end = text
        .get(end..)
        .and_then(|rest| rest.find('\n'))
        .map_or(text.len(), |i| end + i);
    line_end.saturating_sub(line_start) > LONGEST_DRAWN_LINE
}

fn bind<'a>(diag: &'a Diagnostic, sources: &SourceMap) -> Bound<'a> {
    let mut labels = Vec::new();
    let mut extra_notes = Vec::new();
    let drawable = diag.primary.as_ref().filter(|primary| {
        let text = &sources.get(primary.span.file).text;
        let long = std::iter::once(*primary)
            .chain(&diag.secondary)
            .filter(|l| l.span.file == primary.span.file)
            .any(|l| on_long_line(text, l.span));
        if long {
            for label in std::iter::once(*primary).chain(&diag.secondary) {
                let (line, col) = sources.line_col(label.span);
                extra_notes.push(format!(
                    "{} (at {}:{line}:{col})",
                    label.text,
                    sources.get(label.span.file).name
                ));
            }
        }
        !long
    });
    let source = drawable.map(|primary| {
        let file = sources.get(primary.span.file);
        labels.push(LabeledSpan::new_primary_with_span(
            Some(primary.text.clone()),
            to_source_span(primary.span),
        ));
        for label in &diag.secondary {
            if label.span.file == primary.span.file {
                labels.push(LabeledSpan::new_with_span(
                    Some(label.text.clone()),
                    to_source_span(label.span),
                ));
            } else {
                // miette draws one file per report: point at other files in words.
                let (line, col) = sources.line_col(label.span);
                extra_notes.push(format!(
                    "{} (at {}:{line}:{col})",
                    label.text,
                    sources.get(label.span.file).name
                ));
            }
        }
        NamedSource::new(file.name.clone(), file.text.to_string())
    });
    let mut help_lines: Vec<String> = diag.help.iter().cloned().collect();
    help_lines.extend(diag.notes.iter().map(|n| format!("note: {n}")));
    help_lines.extend(extra_notes.into_iter().map(|n| format!("note: {n}")));
    help_lines.push(format!("see: docs/errors/{}.md", diag.code.id));
    Bound {
        diag,
        source,
        labels,
        help: Some(help_lines.join("\n")),
    }
}

fn to_source_span(span: crate::source_map::Span) -> SourceSpan {
    SourceSpan::new((span.start as usize).into(), span.len())
}

/// The report a person reads in a terminal.
pub fn render_human(diag: &Diagnostic, sources: &SourceMap, options: RenderOptions) -> String {
    let theme = if options.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(options.width)
        .with_links(false);
    let bound = bind(diag, sources);
    let mut out = String::new();
    if handler.render_report(&mut out, &bound).is_err() {
        // Rendering only fails on a formatter error; fall back to one line.
        out = format!("{}: {}\n", diag.code.id, diag.message);
    }
    out
}

/// One JSON object per diagnostic, with 1-based lines and columns.
pub fn to_json_value(diag: &Diagnostic, sources: &SourceMap) -> serde_json::Value {
    let label_json = |l: &super::Label| {
        let (line, column) = sources.line_col(l.span);
        serde_json::json!({
            "file": sources.get(l.span.file).name,
            "start": l.span.start,
            "end": l.span.end,
            "line": line,
            "column": column,
            "text": l.text,
        })
    };
    serde_json::json!({
        "code": diag.code.id,
        "name": diag.code.name,
        "severity": match diag.severity() { Severity::Error => "error", Severity::Warning => "warning" },
        "message": diag.message,
        "primary": diag.primary.as_ref().map(label_json),
        "secondary": diag.secondary.iter().map(label_json).collect::<Vec<_>>(),
        "help": diag.help,
        "notes": diag.notes,
        "docs": format!("docs/errors/{}.md", diag.code.id),
    })
}

pub fn render_json(diags: &[Diagnostic], sources: &SourceMap) -> String {
    let values: Vec<_> = diags.iter().map(|d| to_json_value(d, sources)).collect();
    serde_json::to_string_pretty(&serde_json::json!({ "diagnostics": values })).unwrap_or_default()
}
