//! joblib's inline arrays: `joblib.dump` writes each NumPy array's bytes straight into the
//! pickle stream after its `NumpyArrayWrapper`, and `joblib.load` reads them from there.

use super::operands::dtype_itemsize;
use super::{Machine, Step};
use crate::pickle::value::{Val, V};

impl Machine<'_> {
    /// joblib writes NumPy arrays' bytes into the stream right after the BUILD of their
    /// `NumpyArrayWrapper`, and its unpickler reads them from there: step over them (or, for
    /// object arrays, trace the pickle written there) so the stream stays in sync.
    pub(super) fn after_build(&mut self, target: &V, state: &V, at: usize) -> Step<()> {
        let Some(Val::Call(call)) = target.val() else {
            return Ok(());
        };
        let Some(Val::Global(class)) = self.trace.calls[*call].callee.val() else {
            return Ok(());
        };
        let name = &self.trace.imports[*class];
        if name.name != "NumpyArrayWrapper" || !name.module.ends_with("numpy_pickle") {
            return Ok(());
        }
        let Some(Val::Dict(fields)) = state.val() else {
            return self.fail(at, "joblib NumpyArrayWrapper: the state is not a dict");
        };
        let field = |key: &str| {
            fields
                .borrow()
                .iter()
                .find(|(k, _)| k.text(self.data).as_deref() == Some(key))
                .map(|(_, v)| v.clone())
        };
        let dtype = field("dtype").and_then(|d| self.dtype_descr(&d));
        let shape: Option<Vec<i64>> = field("shape")
            .and_then(|s| s.items())
            .map(|items| items.iter().filter_map(|i| i.as_int()).collect());
        let Some(dtype) = dtype else {
            return self.fail(
                at,
                "joblib NumpyArrayWrapper: cannot tell the array's dtype",
            );
        };
        if dtype.contains('O') {
            let mut nested_budget = self.budget.clone();
            let nested = Machine::run(self.data, self.pos, &mut nested_budget);
            self.budget.opcodes_left = nested_budget.opcodes_left;
            match nested {
                Ok(trace) => {
                    self.pos = trace.end;
                    self.trace.nested.push(trace);
                    return Ok(());
                }
                Err(failed) => return Err(Box::new(failed.1)),
            }
        }
        let Some(shape) = shape else {
            return self.fail(at, "joblib NumpyArrayWrapper: no shape");
        };
        let Some(itemsize) = dtype_itemsize(&dtype) else {
            return self.fail(
                at,
                format!("joblib NumpyArrayWrapper: unknown dtype {dtype:?}"),
            );
        };
        if field("numpy_array_alignment_bytes").is_some() {
            let pad = self.u8(at, "joblib array padding")?;
            self.take(pad, at, "joblib array padding")?;
        }
        let count = shape.iter().try_fold(1u64, |acc, d| {
            u64::try_from(*d).ok().and_then(|d| acc.checked_mul(d))
        });
        let Some(len) = count
            .and_then(|c| c.checked_mul(itemsize))
            .and_then(|l| usize::try_from(l).ok())
        else {
            return self.fail(at, "joblib NumpyArrayWrapper: the array size overflows");
        };
        let start = self.pos;
        self.take(len, at, "joblib array data")?;
        self.trace.skipped.push((start, len));
        Ok(())
    }

    /// The descr string of a `numpy.dtype(descr, …)` call.
    fn dtype_descr(&self, v: &V) -> Option<String> {
        if let Some(Val::Call(i)) = v.val() {
            let args = self.trace.calls[*i].args.items()?;
            return args.first()?.text(self.data).map(|t| t.into_owned());
        }
        v.text(self.data).map(|t| t.into_owned())
    }
}
