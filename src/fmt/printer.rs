//! The printer: walks the AST, writes canonical text and weaves the
//! recovered comments back in by source position.
//!
//! Comments are placed by position only, never by matching text, so each one
//! is emitted exactly once: either as the trailing comment of the node whose
//! line it ended, or on its own line before the first anchor (a line-starting
//! node, or a closing bracket) that the printer reaches after it. A comment
//! inside an expression printed on one line thus lands before the next line.

use super::comments::Comment;
use crate::syntax::ast::*;

pub(crate) const WIDTH: usize = 100;
const INDENT: &str = "  ";

/// Binding powers in the units of the Pratt table in `syntax/lower.rs`: the
/// AST's precedences times ten, so that the `- 1` that pest uses for prefix
/// and right-associative operands falls strictly between two levels.
const POSTFIX_BP: u16 = 100;
const CLOSED: u16 = u16::MAX;

fn bp(prec: u8) -> u16 {
    u16::from(prec) * 10
}

/// The binding power a Pratt parser uses for the right operand of `op`.
fn rhs_bp(op: BinaryOp) -> u16 {
    match op {
        BinaryOp::Coalesce => bp(op.precedence()) - 1,
        _ => bp(op.precedence()),
    }
}

fn unary_bp(op: UnaryOp) -> u16 {
    match op {
        UnaryOp::Not => bp(NOT_PRECEDENCE) - 1,
        UnaryOp::Neg => bp(NEG_PRECEDENCE) - 1,
    }
}

/// The strongest operator that may follow `e` without being swallowed by
/// something open at its right edge (`not x`, `a + b`, an `if`'s else branch).
fn open_bp(e: &Expr) -> u16 {
    match &e.kind {
        ExprKind::Binary { op, rhs, .. } => rhs_bp(*op).min(open_bp(rhs)),
        ExprKind::Unary { op, operand } => unary_bp(*op).min(open_bp(operand)),
        ExprKind::Pipe { .. } => bp(PIPE_PRECEDENCE),
        ExprKind::If { .. } => 0,
        _ => CLOSED,
    }
}

/// Where a sub-expression sits, for deciding whether it needs parentheses.
#[derive(Clone, Copy)]
enum Slot {
    /// Delimited on both sides (`(…)`, `[…]`, arguments, statement values).
    Free,
    /// Left of an infix operator with this binding power.
    Left(u16),
    /// Right of an infix or prefix operator parsed with this binding power.
    Right(u16),
    /// Base of `.f`, `?.f` or `[i]`.
    Postfix,
}

/// True when printing `e` bare in `slot` would parse back as a different tree.
/// For a tree that came from the parser this never fires (the user's own
/// parentheses are `Paren` nodes); it protects trees built by code.
fn needs_parens(e: &Expr, slot: Slot) -> bool {
    match slot {
        Slot::Free => false,
        Slot::Left(follower) => open_bp(e) < follower,
        Slot::Postfix => open_bp(e) < POSTFIX_BP,
        Slot::Right(rbp) => match &e.kind {
            ExprKind::Binary { op, .. } => bp(op.precedence()) <= rbp,
            ExprKind::Pipe { .. } => bp(PIPE_PRECEDENCE) <= rbp,
            _ => false,
        },
    }
}

pub(crate) fn is_plain_ident(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Escapes text so the literal parses back to the same characters.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '{' => out.push_str("\\{"),
            '}' => out.push_str("\\}"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
}

pub(crate) fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    escape_into(&mut out, text);
    out.push('"');
    out
}

fn dotted(path: &[Ident]) -> String {
    path.iter().map(|i| &*i.name).collect::<Vec<_>>().join(".")
}

/// Stack kept free before recursing, and the size of each extra segment:
/// deep expressions (up to the nesting limit) never overflow a thread's stack.
const RED_ZONE: usize = 128 * 1024;
const STACK_SEGMENT: usize = 2 * 1024 * 1024;

fn width(s: &str) -> usize {
    s.chars().count()
}

/// A line-starting node: where its comments attach and where it ends.
#[derive(Clone, Copy)]
struct Anchor {
    start: usize,
    end: usize,
}

pub(crate) struct Printer<'a> {
    src: &'a str,
    comments: Vec<Comment>,
    emitted: Vec<bool>,
    /// No comment before this index is still to be printed (comments are
    /// sorted by position): the scans start here, which keeps a file with
    /// many comments linear.
    pending: usize,
    out: String,
    indent: usize,
    /// Just opened a block (or at the start of the file): no blank line may follow.
    fresh: bool,
    /// The next line must be preceded by a blank line (between declarations).
    force_blank: bool,
}

impl<'a> Printer<'a> {
    pub(crate) fn new(src: &'a str, comments: Vec<Comment>) -> Self {
        let emitted = vec![false; comments.len()];
        Printer {
            src,
            comments,
            emitted,
            pending: 0,
            out: String::new(),
            indent: 0,
            fresh: true,
            force_blank: false,
        }
    }

    pub(crate) fn finish_file(mut self, file: &File) -> String {
        self.file(file);
        let mut out = self.out.trim_start_matches('\n').trim_end().to_string();
        if !out.is_empty() {
            out.push('\n');
        }
        out
    }

    // ------------------------------------------------------------ positions

    /// Where a node really ends. Spans of statements, declarations, rows and
    /// some expressions run on over the whitespace and comments after them
    /// (pest's implicit skip inside a trailing repetition), which would make
    /// a trailing comment look like part of the node.
    fn tight_end(&self, span: Span) -> usize {
        let mut end = (span.end as usize).min(self.src.len());
        let start = span.start as usize;
        while end > start {
            let before = self.src.get(start..end).unwrap_or("");
            let trimmed = start + before.trim_end_matches([' ', '\t', '\r', '\n']).len();
            let idx = self.comments.partition_point(|c| c.start < trimmed);
            let in_comment = idx
                .checked_sub(1)
                .map(|i| &self.comments[i])
                .filter(|c| trimmed <= c.end && c.start >= start);
            match in_comment {
                Some(c) => end = c.start,
                None => return trimmed,
            }
        }
        end
    }

    fn anchor(&self, span: Span) -> Anchor {
        Anchor {
            start: span.start as usize,
            end: self.tight_end(span),
        }
    }

    /// The `}` closing a node that ends with a block.
    fn close_brace(&self, span: Span) -> usize {
        self.tight_end(span).saturating_sub(1)
    }

    // ------------------------------------------------------------ layout primitives

    fn write(&mut self, s: &str) {
        self.out.push_str(s);
    }

    fn column(&self) -> usize {
        let line_start = self.out.rfind('\n').map_or(0, |i| i + 1);
        width(&self.out[line_start..])
    }

    fn newline(&mut self, blank: bool) {
        let blank = (blank || self.force_blank) && !self.fresh;
        self.force_blank = false;
        self.fresh = false;
        let trimmed = self.out.trim_end_matches(' ').len();
        self.out.truncate(trimmed);
        if blank && !self.out.is_empty() {
            self.out.push('\n');
        }
        self.out.push('\n');
        for _ in 0..self.indent {
            self.out.push_str(INDENT);
        }
    }

    /// The user left an empty line right before `pos`.
    fn blank_before(&self, pos: usize) -> bool {
        let before = self.src.get(..pos).unwrap_or("");
        let gap = &before[before.trim_end_matches([' ', '\t', '\r', '\n']).len()..];
        gap.len() < before.len() && gap.matches('\n').count() >= 2
    }

    fn has_comment_within(&self, start: usize, end: usize) -> bool {
        let first = self.comments.partition_point(|c| c.start <= start);
        self.comments.get(first).is_some_and(|c| c.start < end)
    }

    fn has_pending_before(&self, pos: usize) -> bool {
        (self.pending..self.comments.len())
            .take_while(|&i| self.comments[i].start < pos)
            .any(|i| !self.emitted[i])
    }

    /// Moves `pending` past the comments already printed.
    fn advance(&mut self) {
        while self.pending < self.comments.len() && self.emitted[self.pending] {
            self.pending += 1;
        }
    }

    /// Emits, each on its own line, the comments that start before `pos`.
    fn leading(&mut self, pos: usize, keep_blanks: bool) {
        for i in self.pending..self.comments.len() {
            if self.comments[i].start >= pos {
                break;
            }
            if self.emitted[i] {
                continue;
            }
            self.emitted[i] = true;
            let blank = keep_blanks && self.blank_before(self.comments[i].start);
            self.newline(blank);
            let text = self.comments[i].text.clone();
            self.write(&text);
        }
        self.advance();
    }

    /// The comment on the same source line after `end` (but before the next
    /// node at `limit`) stays at the end of the printed line.
    fn trailing(&mut self, end: usize, limit: usize) {
        let from = self.comments.partition_point(|c| c.start < end);
        let Some(i) = (from..self.comments.len()).find(|&i| !self.emitted[i]) else {
            return;
        };
        let c = &self.comments[i];
        let same_line = self
            .src
            .get(end..c.start)
            .is_some_and(|gap| !gap.contains('\n'));
        if c.start < limit && same_line {
            self.emitted[i] = true;
            let text = c.text.clone();
            let trimmed = self.out.trim_end_matches(' ').len();
            self.out.truncate(trimmed);
            self.write("  ");
            self.write(&text);
            self.advance();
        }
    }

    /// Position of the `{` that opens a block after a header ending at `from`;
    /// only whitespace, comments and keywords can lie in between.
    fn open_brace(&self, from: usize) -> Option<usize> {
        let mut pos = from;
        loop {
            let rest = self.src.get(pos..)?;
            let off = rest.find(['{', '#'])?;
            if rest.as_bytes()[off] == b'{' {
                return Some(pos + off);
            }
            pos += off + rest[off..].find('\n')?;
        }
    }

    /// Prints `{ nodes }` with one node per line, comments woven in. The
    /// `print` callback receives the node's index.
    fn block(
        &mut self,
        header_end: usize,
        close_brace: usize,
        anchors: &[Anchor],
        mut print: impl FnMut(&mut Self, usize),
    ) {
        let open = self.open_brace(header_end).unwrap_or(header_end);
        if anchors.is_empty() && !self.has_comment_within(open, close_brace) {
            self.write("{}");
            return;
        }
        self.write("{");
        self.trailing(open + 1, anchors.first().map_or(close_brace, |a| a.start));
        self.indent += 1;
        self.fresh = true;
        for (i, a) in anchors.iter().enumerate() {
            self.leading(a.start, true);
            let blank = self.blank_before(a.start);
            self.newline(blank);
            print(self, i);
            let limit = anchors.get(i + 1).map_or(close_brace, |n| n.start);
            self.trailing(a.end, limit);
        }
        self.leading(close_brace, true);
        self.indent -= 1;
        self.newline(false);
        self.write("}");
    }

    // ------------------------------------------------------------ declarations

    fn file(&mut self, file: &File) {
        let items = &file.items;
        for (i, item) in items.iter().enumerate() {
            let anchor = self.anchor(item.span());
            if i > 0 {
                // Consecutive imports read as one group; everything else is
                // separated by exactly one blank line.
                let both_imports =
                    matches!((&items[i - 1], item), (Item::Import(_), Item::Import(_)));
                self.force_blank = !both_imports;
            }
            self.leading(anchor.start, true);
            let blank = self.blank_before(anchor.start);
            self.newline(blank);
            self.item(item);
            let limit = items
                .get(i + 1)
                .map_or(self.src.len(), |n| n.span().start as usize);
            self.trailing(anchor.end, limit);
        }
        if !items.is_empty() {
            self.force_blank = false;
        }
        self.leading(usize::MAX, true);
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Import(i) => {
                self.write("import ");
                self.write(&quote(&i.path));
                if let Some(alias) = &i.alias {
                    self.write(" as ");
                    self.write(&alias.name);
                }
            }
            Item::Table(t) => self.table(t),
            Item::Fn(f) => {
                self.write("fn ");
                self.write(&f.name.name);
                let params: Vec<&str> = f.params.iter().map(|p| &*p.name).collect();
                self.write(&format!("({}) = ", params.join(", ")));
                self.expr(&f.body, 0);
            }
            Item::Let(l) => self.let_decl(l),
            Item::Schema(s) => {
                self.write("schema ");
                self.write(&s.name.name);
                let mut header_end = s.name.span.end as usize;
                if let Some((res, span)) = &s.resource {
                    self.write(" resource ");
                    self.write(&quote(res));
                    header_end = span.end as usize;
                }
                if let Some(key) = &s.key {
                    self.write(" key ");
                    self.write(&key.name);
                    header_end = key.span.end as usize;
                }
                if let Some(cursor) = &s.cursor {
                    self.write(" cursor ");
                    self.write(&cursor.name);
                    header_end = cursor.span.end as usize;
                }
                for (i, field) in s.mutable.iter().enumerate() {
                    self.write(if i == 0 { " mutable " } else { ", " });
                    self.write(&field.name);
                    header_end = field.span.end as usize;
                }
                if let Some((unit, span)) = &s.length {
                    self.write(" length ");
                    self.write(unit.keyword());
                    header_end = span.end as usize;
                }
                self.write(" ");
                self.fields(&s.fields, header_end, self.close_brace(s.span));
            }
            Item::Connection(c) => {
                self.write("connection ");
                self.write(&c.name.name);
                self.write(" ");
                let anchors: Vec<Anchor> = c.settings.iter().map(|s| self.anchor(s.span)).collect();
                self.block(
                    c.name.span.end as usize,
                    self.close_brace(c.span),
                    &anchors,
                    |p, i| {
                        let s = &c.settings[i];
                        p.write(&s.name.name);
                        p.write(" ");
                        p.expr(&s.value, 0);
                    },
                );
            }
            Item::Flow(f) => {
                self.write("flow ");
                self.write(&f.name.name);
                let mut header_end = f.name.span.end as usize;
                if let Some(when) = &f.when {
                    self.write(" when ");
                    self.expr(when, 2);
                    header_end = when.span.end as usize;
                }
                self.write(" ");
                self.stmts(&f.body, header_end, self.close_brace(f.span));
            }
            Item::Mapping(m) => {
                self.write("mapping ");
                self.write(&m.name.name);
                self.write(" ");
                self.stmts(&m.body, m.name.span.end as usize, self.close_brace(m.span));
            }
            Item::Test(t) => {
                self.write("test ");
                self.write(&quote(&t.name));
                self.write(" ");
                let anchors: Vec<Anchor> = t.body.iter().map(|s| self.test_anchor(s)).collect();
                self.block(
                    t.name_span.end as usize,
                    self.close_brace(t.span),
                    &anchors,
                    |p, i| p.test_stmt(&t.body[i]),
                );
            }
        }
    }

    fn let_decl(&mut self, l: &Let) {
        self.write("let ");
        self.write(&l.name.name);
        self.write(" = ");
        self.expr(&l.value, 0);
    }

    fn table(&mut self, t: &Table) {
        self.write("table ");
        self.write(&t.name.name);
        match &t.body {
            TableBody::Rows(rows) => {
                self.write(" ");
                // Keys are always printed on one line so that the arrows align.
                let keys: Vec<String> = rows
                    .iter()
                    .map(|r| {
                        r.key
                            .as_ref()
                            .map_or_else(|| "_".to_string(), |k| self.flat(k))
                    })
                    .collect();
                let key_width = keys.iter().map(|k| width(k)).max().unwrap_or(0);
                let anchors: Vec<Anchor> = rows.iter().map(|r| self.anchor(r.span)).collect();
                self.block(
                    t.name.span.end as usize,
                    self.close_brace(t.span),
                    &anchors,
                    |p, i| {
                        p.write(&keys[i]);
                        p.write(&" ".repeat(key_width - width(&keys[i])));
                        p.write(" => ");
                        p.expr(&rows[i].value, 0);
                    },
                );
            }
            TableBody::File {
                path,
                key_column,
                value_column,
                default,
                ..
            } => {
                self.write(" from ");
                self.write(&quote(path));
                if let Some((k, _)) = key_column {
                    self.write(" key ");
                    self.write(&quote(k));
                }
                if let Some((v, _)) = value_column {
                    self.write(" value ");
                    self.write(&quote(v));
                }
                if let Some(d) = default {
                    self.write(" default ");
                    self.expr(d, 0);
                }
            }
        }
    }

    fn fields(&mut self, fields: &[FieldDecl], header_end: usize, close_brace: usize) {
        let anchors: Vec<Anchor> = fields.iter().map(|f| self.anchor(f.span)).collect();
        self.block(header_end, close_brace, &anchors, |p, i| {
            p.field(&fields[i])
        });
    }

    fn field(&mut self, f: &FieldDecl) {
        self.write(&f.name.name);
        self.write(": ");
        self.type_expr(&f.ty);
        if f.optional {
            self.write("?");
        }
        if f.readonly {
            self.write(" readonly");
        }
        if let Some((lo, hi)) = &f.range {
            self.write(&format!(" range {lo}..{hi}"));
        }
    }

    fn type_expr(&mut self, ty: &TypeExpr) {
        for (i, atom) in ty.alternatives.iter().enumerate() {
            if i > 0 {
                self.write(" | ");
            }
            match atom {
                TypeAtom::Named { module, name } => {
                    if let Some(m) = module {
                        self.write(&m.name);
                        self.write(".");
                    }
                    self.write(&name.name);
                }
                TypeAtom::Sized { name, size, .. } => self.write(&format!("{}({size})", name.name)),
                TypeAtom::List(inner) => {
                    self.write("list<");
                    self.type_expr(inner);
                    self.write(">");
                }
                TypeAtom::Record(fields, span) => {
                    self.fields(fields, span.start as usize, self.close_brace(*span))
                }
                TypeAtom::Literal(text, _) => self.write(&quote(text)),
            }
        }
    }

    // ------------------------------------------------------------ statements

    fn stmts(&mut self, stmts: &[Stmt], header_end: usize, close_brace: usize) {
        let anchors: Vec<Anchor> = stmts.iter().map(|s| self.anchor(s.span())).collect();
        let pads = self.mapping_pads(stmts, &anchors);
        self.block(header_end, close_brace, &anchors, |p, i| {
            p.stmt(&stmts[i], pads[i])
        });
    }

    /// A mapping that will print on one line: the only kind that aligns.
    fn single_line_mapping(&self, stmt: &Stmt) -> Option<usize> {
        let Stmt::Map { value, field, .. } = stmt else {
            return None;
        };
        let w = width(&self.flat(value));
        let line = self.indent * INDENT.len() + INDENT.len() + w + 4 + width(&field.dotted());
        (line <= WIDTH && !self.has_container_comment(value)).then_some(w)
    }

    /// Runs of consecutive one-line mappings, not interrupted by a blank line,
    /// a comment on its own line or another statement, align their `->`.
    fn mapping_pads(&self, stmts: &[Stmt], anchors: &[Anchor]) -> Vec<Option<usize>> {
        let widths: Vec<Option<usize>> =
            stmts.iter().map(|s| self.single_line_mapping(s)).collect();
        let mut pads = vec![None; stmts.len()];
        let mut i = 0;
        while i < stmts.len() {
            if widths[i].is_none() {
                i += 1;
                continue;
            }
            let mut j = i;
            while j + 1 < stmts.len()
                && widths[j + 1].is_some()
                && !self.blank_before(anchors[j + 1].start)
                && !self.comment_between(anchors[j], anchors[j + 1].start)
            {
                j += 1;
            }
            let max = (i..=j).filter_map(|k| widths[k]).max();
            for pad in &mut pads[i..=j] {
                *pad = max;
            }
            i = j + 1;
        }
        pads
    }

    /// Any comment from the start of `prev` up to `next`, except the one
    /// trailing `prev`'s line.
    fn comment_between(&self, prev: Anchor, next: usize) -> bool {
        let mut trailing_seen = false;
        let from = self.comments.partition_point(|c| c.start < prev.start);
        for c in &self.comments[from..] {
            if c.start >= next {
                break;
            }
            let trails = c.start >= prev.end
                && !trailing_seen
                && self
                    .src
                    .get(prev.end..c.start)
                    .is_some_and(|g| !g.contains('\n'));
            if trails {
                trailing_seen = true;
            } else {
                return true;
            }
        }
        false
    }

    fn stmt(&mut self, stmt: &Stmt, pad: Option<usize>) {
        match stmt {
            Stmt::Source(e, _) => {
                self.write("source ");
                self.endpoint(e);
            }
            Stmt::Target(e, _) => {
                self.write("target ");
                self.endpoint(e);
            }
            Stmt::Where(e, _) => {
                self.write("where ");
                self.expr(e, 0);
            }
            Stmt::Reread(e, _) => {
                self.write("reread ");
                self.expr(e, 0);
            }
            Stmt::Key { value, field, .. } => {
                self.write("key ");
                let suffix = 4 + width(&field.dotted());
                self.expr(value, suffix);
                self.write(" -> ");
                self.write(&field.dotted());
            }
            Stmt::Let(l) => self.let_decl(l),
            Stmt::Map { value, field, .. } => {
                let start = self.column();
                let suffix = 4 + width(&field.dotted());
                self.expr(value, suffix);
                if let Some(pad) = pad {
                    let used = self.column().saturating_sub(start);
                    self.write(&" ".repeat(pad.saturating_sub(used)));
                }
                self.write(" -> ");
                self.write(&field.dotted());
            }
            Stmt::Each(e) => {
                match &e.items {
                    Some((list, var)) => {
                        self.write("each ");
                        self.expr(list, 0);
                        self.write(" as ");
                        self.write(&var.name);
                    }
                    None => self.write("append"),
                }
                if let Some(p) = &e.position {
                    self.write(" at ");
                    self.write(&p.name);
                }
                if let Some(f) = &e.filter {
                    self.write(" where ");
                    self.expr(f, 0);
                }
                self.write(" -> ");
                self.write(&e.field.dotted());
                self.write(" ");
                self.stmts(&e.body, e.field.span.end as usize, self.close_brace(e.span));
            }
            Stmt::Upsert(u) => {
                self.write("upsert ");
                self.write(&dotted(&u.schema));
                self.write(" as ");
                self.write(&u.var.name);
                if let Some(f) = &u.filter {
                    self.write(" where ");
                    self.expr(f, 0);
                }
                self.write(" match ");
                self.expr(&u.match_value, 0);
                self.write(" -> ");
                self.write(&u.match_field.dotted());
                self.write(" ");
                self.stmts(
                    &u.body,
                    u.match_field.span.end as usize,
                    self.close_brace(u.span),
                );
            }
            Stmt::OnCreate(body, span) => {
                self.write("on create ");
                self.stmts(body, span.start as usize, self.close_brace(*span));
            }
            Stmt::OnUpdate(body, span) => {
                self.write("on update ");
                self.stmts(body, span.start as usize, self.close_brace(*span));
            }
            Stmt::Keep(fields, _) => {
                let names: Vec<String> = fields.iter().map(|f| f.dotted()).collect();
                self.write("on update keep ");
                self.write(&names.join(", "));
            }
            Stmt::Use(path, _) => {
                self.write("use ");
                self.write(&dotted(path));
            }
        }
    }

    fn endpoint(&mut self, e: &Endpoint) {
        match e {
            Endpoint::Resource(path, _) => self.write(&dotted(path)),
            Endpoint::File { path, schema, .. } => {
                self.write("file(");
                self.write(&quote(path));
                self.write(")");
                if let Some((s, _)) = schema {
                    self.write(" as ");
                    self.write(&dotted(s));
                }
            }
        }
    }

    fn test_anchor(&self, s: &TestStmt) -> Anchor {
        match s {
            TestStmt::Flow(name) => {
                // The statement has no span of its own; widen the name's to
                // the `flow` keyword so blank lines before it are seen.
                let start = name.span.start as usize;
                let before = self.src.get(..start).unwrap_or("").trim_end();
                let start = if before.ends_with("flow") {
                    before.len() - 4
                } else {
                    start
                };
                Anchor {
                    start,
                    end: self.tight_end(name.span),
                }
            }
            TestStmt::Input(_, span) | TestStmt::Given { span, .. } | TestStmt::Expect(_, span) => {
                self.anchor(*span)
            }
        }
    }

    fn test_stmt(&mut self, s: &TestStmt) {
        match s {
            TestStmt::Flow(name) => {
                self.write("flow ");
                self.write(&name.name);
            }
            TestStmt::Input(e, _) => {
                self.write("input ");
                self.expr(e, 0);
            }
            TestStmt::Given {
                schema, records, ..
            } => {
                self.write("given ");
                self.write(&dotted(schema));
                self.write(" ");
                self.expr(records, 0);
            }
            TestStmt::Expect(exp, _) => {
                self.write("expect ");
                match exp {
                    Expectation::Skip(msg) | Expectation::Error(msg) => {
                        self.write(if matches!(exp, Expectation::Skip(_)) {
                            "skip"
                        } else {
                            "error"
                        });
                        if let Some(m) = msg {
                            self.write(" ");
                            self.write(&quote(m));
                        }
                    }
                    Expectation::Write {
                        verb,
                        schema,
                        payload,
                    } => {
                        self.write(verb.as_str());
                        self.write(" ");
                        if let Some((s, _)) = schema {
                            self.write(&dotted(s));
                            self.write(" ");
                        }
                        self.expr(payload, 0);
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------ expressions

    /// A comment inside a list, record or argument list forces that container
    /// onto several lines, where the comment gets a line of its own. String
    /// interpolations are always printed flat, so they are not looked into.
    fn has_container_comment(&self, e: &Expr) -> bool {
        let span = (e.span.start as usize, e.span.end as usize);
        // Such a comment lies within the expression: most have none, and
        // then the subtree need not be walked (which keeps long chains linear).
        if !self.has_comment_within(span.0, span.1) {
            return false;
        }
        let here = match &e.kind {
            ExprKind::List(_) | ExprKind::Record(_) => self.has_comment_within(span.0, span.1),
            ExprKind::Call { name, .. } | ExprKind::Pipe { name, .. } => {
                self.has_comment_within(name.span.end as usize, span.1)
            }
            _ => false,
        };
        here || children(e)
            .into_iter()
            .any(|c| self.has_container_comment(c))
    }

    /// Prints `e` at the current column, breaking lists, records and argument
    /// lists that do not fit in `WIDTH` minus the `suffix` that follows them.
    fn expr(&mut self, e: &Expr, suffix: usize) {
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || self.expr_inner(e, suffix))
    }

    fn expr_inner(&mut self, e: &Expr, suffix: usize) {
        // Only whether it fits matters here: a flat text longer than the
        // line is not built in full at every level of a long chain.
        if let Some(flat) = self.flat_within(e, WIDTH) {
            if self.column() + width(&flat) + suffix <= WIDTH && !self.has_container_comment(e) {
                self.write(&flat);
                return;
            }
        }
        let close = self.close_brace(e.span);
        match &e.kind {
            ExprKind::List(items) => {
                let anchors: Vec<Anchor> = items.iter().map(|i| self.anchor(i.span)).collect();
                self.seq("[", "]", close, &anchors, |p, i| p.expr(&items[i], 1));
            }
            ExprKind::Record(entries) => self.entries(("{", "}"), close, entries),
            ExprKind::Find {
                base,
                conditions,
                all,
            } => {
                self.child(base, Slot::Postfix, 1);
                let open = if *all { "[*" } else { "[" };
                self.entries((open, "]"), close, conditions);
            }
            // `[item` / `for x in list where c` / `]`: the item on its own
            // lines, the loop on one after it.
            ExprKind::Comprehension {
                item,
                var,
                list,
                filter,
            } => {
                self.write("[");
                self.indent += 1;
                self.newline(false);
                self.expr(item, 0);
                self.newline(false);
                self.write("for ");
                self.write(&var.name);
                self.write(" in ");
                self.expr(list, 0);
                if let Some(f) = filter {
                    self.write(" where ");
                    self.expr(f, 0);
                }
                self.indent -= 1;
                self.newline(false);
                self.write("]");
            }
            ExprKind::Call { name, args } => {
                self.write(&name.name);
                if !self.short_args(args, name.span.end as usize, e.span.end as usize) {
                    let anchors: Vec<Anchor> = args.iter().map(|a| self.anchor(a.span)).collect();
                    self.seq("(", ")", close, &anchors, |p, i| p.expr(&args[i], 1));
                }
            }
            ExprKind::Pipe { value, name, args } => {
                self.child(
                    value,
                    Slot::Left(bp(PIPE_PRECEDENCE)),
                    3 + width(&name.name),
                );
                self.write(" | ");
                self.write(&name.name);
                if args.is_empty()
                    && !self.has_comment_within(name.span.end as usize, e.span.end as usize)
                {
                    if self.pipe_had_parens(e) {
                        self.write("()");
                    }
                } else if !self.short_args(args, name.span.end as usize, e.span.end as usize) {
                    let anchors: Vec<Anchor> = args.iter().map(|a| self.anchor(a.span)).collect();
                    self.seq("(", ")", close, &anchors, |p, i| p.expr(&args[i], 1));
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let op_text = format!(" {} ", op.symbol());
                let rest = width(&op_text) + self.flat_width(rhs) + suffix;
                self.child(lhs, Slot::Left(bp(op.precedence())), rest);
                self.write(&op_text);
                self.child(rhs, Slot::Right(rhs_bp(*op)), suffix);
            }
            ExprKind::Unary { op, operand } => {
                self.write(unary_symbol(*op));
                self.child(operand, Slot::Right(unary_bp(*op)), suffix);
            }
            ExprKind::Field {
                base,
                name,
                optional,
            } => {
                let tail = format!("{}{}", if *optional { "?." } else { "." }, name.name);
                self.child(base, Slot::Postfix, width(&tail) + suffix);
                self.write(&tail);
            }
            ExprKind::Index { base, index } => {
                let rest = self.flat_width(index) + 2 + suffix;
                self.child(base, Slot::Postfix, rest);
                self.write("[");
                self.expr(index, 1 + suffix);
                self.write("]");
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.write("if ");
                self.expr(cond, 0);
                self.write(" then ");
                self.expr(then, 0);
                self.write(" else ");
                self.expr(otherwise, suffix);
            }
            ExprKind::Paren(inner) => {
                self.write("(");
                self.expr(inner, suffix + 1);
                self.write(")");
            }
            _ => {
                let flat = self.flat(e);
                self.write(&flat)
            }
        }
    }

    fn child(&mut self, e: &Expr, slot: Slot, suffix: usize) {
        if needs_parens(e, slot) {
            self.write("(");
            self.expr(e, suffix + 1);
            self.write(")");
        } else {
            self.expr(e, suffix);
        }
    }

    /// Writes a short argument list such as `(50)` on the line even when the
    /// line is long: one entry per line would not make `truncate(50)`
    /// easier to read. Returns whether it did.
    fn short_args(&mut self, args: &[Expr], from: usize, to: usize) -> bool {
        const SHORT: usize = 30;
        if args.is_empty() || self.has_comment_within(from, to) {
            return false;
        }
        let mut flat = Vec::with_capacity(args.len());
        for a in args {
            match self.flat_within(a, SHORT) {
                Some(f) => flat.push(f),
                None => return false,
            }
        }
        let text = flat.join(", ");
        if width(&text) > SHORT {
            return false;
        }
        self.write("(");
        self.write(&text);
        self.write(")");
        true
    }

    /// `key: value` entries (a record, a lookup's conditions), one per line.
    fn entries(
        &mut self,
        (open, close): (&str, &str),
        close_pos: usize,
        entries: &[(Ident, Expr)],
    ) {
        let anchors: Vec<Anchor> = entries
            .iter()
            .map(|(k, v)| Anchor {
                start: k.span.start as usize,
                end: self.tight_end(v.span),
            })
            .collect();
        self.seq(open, close, close_pos, &anchors, |p, i| {
            let (k, v) = &entries[i];
            p.write(&record_key(&k.name));
            p.write(": ");
            p.expr(v, 1);
        });
    }

    /// A broken list, record or argument list: one entry per line, each with
    /// a trailing comma.
    fn seq(
        &mut self,
        open: &str,
        close: &str,
        close_pos: usize,
        anchors: &[Anchor],
        mut print: impl FnMut(&mut Self, usize),
    ) {
        self.write(open);
        if anchors.is_empty() && !self.has_pending_before(close_pos) {
            self.write(close);
            return;
        }
        self.indent += 1;
        self.fresh = true;
        for (i, a) in anchors.iter().enumerate() {
            self.leading(a.start, false);
            self.newline(false);
            print(self, i);
            self.write(",");
            let limit = anchors.get(i + 1).map_or(close_pos, |n| n.start);
            self.trailing(a.end, limit);
        }
        self.leading(close_pos, false);
        self.indent -= 1;
        self.newline(false);
        self.write(close);
    }

    /// `x | f` and `x | f()` are the same tree; keep the user's spelling. The
    /// bare form is never followed by `(` (that would have been the call).
    fn pipe_had_parens(&self, e: &Expr) -> bool {
        let end = e.span.end as usize;
        end > 0 && self.src.get(end - 1..end) == Some(")")
    }

    /// The expression on one line.
    pub(crate) fn flat(&self, e: &Expr) -> String {
        let mut out = String::new();
        self.flat_into(&mut out, e, Slot::Free);
        out
    }

    /// The expression on one line, if it is at most `limit` bytes long
    /// (what is longer is not built in full).
    fn flat_within(&self, e: &Expr, limit: usize) -> Option<String> {
        let mut out = String::new();
        self.flat_limited(&mut out, e, Slot::Free, limit);
        (out.len() <= limit).then_some(out)
    }

    /// The width of the flat text, exact up to `WIDTH + 1` (all a layout
    /// decision needs to know).
    fn flat_width(&self, e: &Expr) -> usize {
        let mut out = String::new();
        self.flat_limited(&mut out, e, Slot::Free, WIDTH);
        width(&out).min(WIDTH + 1)
    }

    fn flat_into(&self, out: &mut String, e: &Expr, slot: Slot) {
        self.flat_limited(out, e, slot, usize::MAX)
    }

    /// Flat text, stopping once `out` is longer than `limit`.
    fn flat_limited(&self, out: &mut String, e: &Expr, slot: Slot, limit: usize) {
        if out.len() > limit {
            return;
        }
        stacker::maybe_grow(RED_ZONE, STACK_SEGMENT, || {
            self.flat_node(out, e, slot, limit)
        })
    }

    fn flat_node(&self, out: &mut String, e: &Expr, slot: Slot, limit: usize) {
        if needs_parens(e, slot) {
            out.push('(');
            self.flat_limited(out, e, Slot::Free, limit);
            out.push(')');
            return;
        }
        match &e.kind {
            ExprKind::Null => out.push_str("null"),
            ExprKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            ExprKind::Number(n) => out.push_str(&n.to_string()),
            ExprKind::String(parts) => {
                out.push('"');
                for part in parts {
                    match part {
                        StrPart::Text(t) => escape_into(out, t),
                        StrPart::Expr(inner) => {
                            out.push('{');
                            self.flat_limited(out, inner, Slot::Free, limit);
                            out.push('}');
                        }
                    }
                }
                out.push('"');
            }
            ExprKind::Date(d) | ExprKind::DateTime(d) => {
                out.push('@');
                out.push_str(d);
            }
            ExprKind::Var(v) => out.push_str(&v.name),
            ExprKind::Field {
                base,
                name,
                optional,
            } => {
                self.flat_limited(out, base, Slot::Postfix, limit);
                out.push_str(if *optional { "?." } else { "." });
                out.push_str(&name.name);
            }
            ExprKind::Index { base, index } => {
                self.flat_limited(out, base, Slot::Postfix, limit);
                out.push('[');
                self.flat_limited(out, index, Slot::Free, limit);
                out.push(']');
            }
            ExprKind::Find {
                base,
                conditions,
                all,
            } => {
                self.flat_into(out, base, Slot::Postfix);
                let start = out.len();
                self.flat_list(out, ('[', ']'), conditions, |out, (k, v)| {
                    out.push_str(&k.name);
                    out.push_str(": ");
                    self.flat_into(out, v, Slot::Free);
                });
                if *all {
                    let star = if conditions.is_empty() { "*" } else { "* " };
                    out.insert_str(start + 1, star);
                }
            }
            ExprKind::Call { name, args } => {
                out.push_str(&name.name);
                self.flat_args(out, args, limit);
            }
            ExprKind::Pipe { value, name, args } => {
                self.flat_limited(out, value, Slot::Left(bp(PIPE_PRECEDENCE)), limit);
                out.push_str(" | ");
                out.push_str(&name.name);
                if !args.is_empty() || self.pipe_had_parens(e) {
                    self.flat_args(out, args, limit);
                }
            }
            ExprKind::Unary { op, operand } => {
                out.push_str(unary_symbol(*op));
                self.flat_limited(out, operand, Slot::Right(unary_bp(*op)), limit);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.flat_limited(out, lhs, Slot::Left(bp(op.precedence())), limit);
                out.push(' ');
                out.push_str(op.symbol());
                out.push(' ');
                self.flat_limited(out, rhs, Slot::Right(rhs_bp(*op)), limit);
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                out.push_str("if ");
                self.flat_limited(out, cond, Slot::Free, limit);
                out.push_str(" then ");
                self.flat_limited(out, then, Slot::Free, limit);
                out.push_str(" else ");
                self.flat_limited(out, otherwise, Slot::Free, limit);
            }
            ExprKind::List(items) => self.flat_list(out, ('[', ']'), items, |out, item| {
                self.flat_limited(out, item, Slot::Free, limit)
            }),
            ExprKind::Comprehension {
                item,
                var,
                list,
                filter,
            } => {
                out.push('[');
                self.flat_into(out, item, Slot::Free);
                out.push_str(" for ");
                out.push_str(&var.name);
                out.push_str(" in ");
                self.flat_into(out, list, Slot::Free);
                if let Some(f) = filter {
                    out.push_str(" where ");
                    self.flat_into(out, f, Slot::Free);
                }
                out.push(']');
            }
            ExprKind::Record(entries) => self.flat_list(out, ('{', '}'), entries, |out, (k, v)| {
                out.push_str(&record_key(&k.name));
                out.push_str(": ");
                self.flat_limited(out, v, Slot::Free, limit);
            }),
            ExprKind::Paren(inner) => {
                out.push('(');
                self.flat_limited(out, inner, Slot::Free, limit);
                out.push(')');
            }
        }
    }

    fn flat_args(&self, out: &mut String, args: &[Expr], limit: usize) {
        self.flat_list(out, ('(', ')'), args, |out, a| {
            self.flat_limited(out, a, Slot::Free, limit)
        });
    }

    /// `items` on one line between `open` and `close`, separated by `, `.
    fn flat_list<T>(
        &self,
        out: &mut String,
        (open, close): (char, char),
        items: &[T],
        mut item: impl FnMut(&mut String, &T),
    ) {
        out.push(open);
        for (i, x) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            item(out, x);
        }
        out.push(close);
    }
}

fn unary_symbol(op: UnaryOp) -> &'static str {
    match op {
        UnaryOp::Neg => "-",
        UnaryOp::Not => "not ",
    }
}

fn record_key(name: &str) -> String {
    if is_plain_ident(name) {
        name.to_string()
    } else {
        quote(name)
    }
}

/// Direct sub-expressions outside string interpolations.
fn children(e: &Expr) -> Vec<&Expr> {
    match &e.kind {
        ExprKind::Field { base, .. } => vec![base],
        ExprKind::Index { base, index } => vec![base, index],
        ExprKind::Find {
            base, conditions, ..
        } => std::iter::once(&**base)
            .chain(conditions.iter().map(|(_, v)| v))
            .collect(),
        ExprKind::Call { args, .. } => args.iter().collect(),
        ExprKind::Pipe { value, args, .. } => std::iter::once(&**value).chain(args).collect(),
        ExprKind::Unary { operand, .. } => vec![operand],
        ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => vec![cond, then, otherwise],
        ExprKind::List(items) => items.iter().collect(),
        ExprKind::Comprehension {
            item, list, filter, ..
        } => std::iter::once(&**item)
            .chain(std::iter::once(&**list))
            .chain(filter.as_deref())
            .collect(),
        ExprKind::Record(entries) => entries.iter().map(|(_, v)| v).collect(),
        ExprKind::Paren(inner) => vec![inner],
        _ => vec![],
    }
}
