//! The memo: what PUT, BINPUT, LONG_BINPUT and MEMOIZE store and GET reads back.

use crate::pickle::value::V;

/// Writers number memo keys 0, 1, 2 … so a vector indexed by key holds them; a key far past
/// the dense part (legal but unusual) goes to the map.
#[derive(Default)]
pub(super) struct Memo {
    dense: Vec<Option<V>>,
    sparse: std::collections::HashMap<u64, V>,
    pub(super) len: usize,
}

impl Memo {
    pub(super) fn get(&self, key: u64) -> Option<&V> {
        match self.dense.get(key as usize) {
            Some(Some(v)) => Some(v),
            _ => self.sparse.get(&key),
        }
    }

    pub(super) fn contains(&self, key: u64) -> bool {
        self.get(key).is_some()
    }

    pub(super) fn insert(&mut self, key: u64, v: V) {
        let k = key as usize;
        if k == self.dense.len() && self.sparse.is_empty() {
            // Writers number keys 0, 1, 2 …: the next key appends.
            self.dense.push(Some(v));
            self.len += 1;
        } else if key <= usize::MAX as u64 && k <= self.dense.len() + 1024 {
            if k >= self.dense.len() {
                self.dense.resize(k + 1, None);
            }
            let was_sparse = !self.sparse.is_empty() && self.sparse.remove(&key).is_some();
            if self.dense[k].replace(v).is_none() && !was_sparse {
                self.len += 1;
            }
        } else if self.sparse.insert(key, v).is_none() {
            self.len += 1;
        }
    }
}
