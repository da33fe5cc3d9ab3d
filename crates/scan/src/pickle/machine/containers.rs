//! Filling containers: APPEND(S), SETITEM(S) on lists and dicts, and the expansion check
//! that every growing container passes.

use super::operands::pairs;
use super::{Machine, Step};
use crate::pickle::value::{sum, Val, V};

impl Machine<'_> {
    pub(super) fn check_weight(&self, v: &V, at: usize) -> Step<()> {
        if v.weight() > self.budget.max_expansion {
            return self.over(
                at,
                format!(
                    "a value expands to more than {} values (memo/DUP expansion bomb)",
                    self.budget.max_expansion
                ),
            );
        }
        Ok(())
    }

    pub(super) fn extend(
        &mut self,
        target: &V,
        items: Vec<V>,
        at: usize,
        op: &'static str,
    ) -> Step<()> {
        match target.val() {
            Some(Val::List(list)) => {
                target.add_weight(sum(items.iter()));
                list.borrow_mut().extend(items);
            }
            _ => self.method_on(
                target,
                if op == "APPEND" { "append" } else { "extend" },
                items,
                at,
                op,
            ),
        }
        self.check_weight(target, at)
    }

    pub(super) fn set_items(
        &mut self,
        target: &V,
        items: Vec<V>,
        at: usize,
        op: &'static str,
    ) -> Step<()> {
        match target.val() {
            Some(Val::Dict(dict)) => {
                target.add_weight(sum(items.iter()));
                dict.borrow_mut().extend(pairs(items));
            }
            _ => self.method_on(target, "__setitem__", items, at, op),
        }
        self.check_weight(target, at)
    }
}
