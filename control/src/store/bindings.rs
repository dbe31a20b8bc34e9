//! Durable subscriber bindings (so a restarted probe keeps intercepting a
//! session before its first packet) and the static assignment table.

use dataplane::targets::Target;

use super::{Store, StoreError};
use crate::model::Identity;
use crate::sessions::{Binding, BindingId};

/// A static customer's addresses, provisioned by name (`subscriber-id:<name>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticAssignment {
    /// `subscriber-id:...`.
    pub subscriber: Identity,
    /// Its addresses and prefixes.
    pub addresses: Vec<Target>,
}

impl Store {
    /// Saves (inserts or replaces) a current binding.
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub fn put_binding(&self, binding: &Binding) -> Result<(), StoreError> {
        let _ = binding;
        todo!("provided by the sub-model branch")
    }

    /// Deletes an ended binding (no error if absent).
    ///
    /// # Errors
    /// [`StoreError::Db`].
    pub fn remove_binding(&self, id: &BindingId) -> Result<(), StoreError> {
        let _ = id;
        todo!("provided by the sub-model branch")
    }

    /// Every saved binding.
    ///
    /// # Errors
    /// [`StoreError::Db`]; a row that does not parse.
    pub fn bindings(&self) -> Result<Vec<Binding>, StoreError> {
        todo!("provided by the sub-model branch")
    }

    /// Every static assignment.
    ///
    /// # Errors
    /// [`StoreError::Db`]; a row that does not parse.
    pub fn static_assignments(&self) -> Result<Vec<StaticAssignment>, StoreError> {
        todo!("provided by the sub-model branch")
    }
}
