//! Names visible while checking one expression: locals (let, each and
//! upsert variables, function parameters) and, inside a flow, the fields of
//! the source record.

use std::sync::Arc;

use crate::source_map::Span;
use crate::types::Type;

#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub name: Arc<str>,
    pub slot: usize,
    pub ty: Type,
    pub span: Span,
    pub used: bool,
    /// Flow-level lets warn when unused; loop and upsert variables do not.
    pub warn_unused: bool,
}

#[derive(Debug)]
pub(crate) struct Scope {
    pub module: usize,
    pub locals: Vec<Local>,
    next_slot: usize,
    pub frame_size: usize,
    /// The source record's type inside a flow; `None` in functions and globals.
    pub input: Option<Type>,
    /// Unused-local warnings collected when locals go out of scope.
    pub unused: Vec<(Arc<str>, Span)>,
}

impl Scope {
    pub fn new(module: usize, input: Option<Type>) -> Self {
        Scope {
            module,
            locals: Vec::new(),
            next_slot: 0,
            frame_size: 0,
            input,
            unused: Vec::new(),
        }
    }

    pub fn bind(&mut self, name: Arc<str>, ty: Type, span: Span, warn_unused: bool) -> usize {
        let slot = self.next_slot;
        self.next_slot += 1;
        self.frame_size = self.frame_size.max(self.next_slot);
        self.locals.push(Local {
            name,
            slot,
            ty,
            span,
            used: false,
            warn_unused,
        });
        slot
    }

    /// Marks where a block starts, so its locals can be dropped at its end.
    pub fn mark(&self) -> (usize, usize) {
        (self.locals.len(), self.next_slot)
    }

    pub fn reset(&mut self, mark: (usize, usize)) {
        for local in self.locals.drain(mark.0..) {
            if local.warn_unused && !local.used {
                self.unused.push((local.name, local.span));
            }
        }
        self.next_slot = mark.1;
    }

    pub fn find(&mut self, name: &str) -> Option<&mut Local> {
        self.locals.iter_mut().rev().find(|l| &*l.name == name)
    }

    pub fn local_names(&self) -> impl Iterator<Item = &str> {
        self.locals.iter().map(|l| &*l.name)
    }
}
