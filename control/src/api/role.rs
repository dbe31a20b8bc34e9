//! What each [`Role`] (from `[[api.identities]]`) may do.

pub use crate::config::Role;

/// What a request wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// LIID, state and window of intercepts.
    ListIntercepts,
    /// Full intercepts, targets and warrant included.
    ReadInterceptDetails,
    /// Create, modify, deactivate intercepts.
    WriteIntercepts,
    /// Read destinations.
    ReadDestinations,
    /// Create and remove destinations.
    WriteDestinations,
    /// Read the audit log.
    ReadAudit,
}

impl Role {
    /// Whether this role grants `p`.
    #[must_use]
    pub fn allows(self, p: Permission) -> bool {
        use Permission as P;
        match self {
            Self::Admin => true,
            Self::Provisioner => matches!(
                p,
                P::ListIntercepts
                    | P::ReadInterceptDetails
                    | P::WriteIntercepts
                    | P::ReadDestinations
            ),
            Self::Auditor => matches!(
                p,
                P::ListIntercepts | P::ReadInterceptDetails | P::ReadAudit
            ),
            Self::Viewer => matches!(p, P::ListIntercepts),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn viewer_never_reads_details_and_only_admin_writes_destinations() {
        for role in [Role::Provisioner, Role::Auditor, Role::Viewer] {
            assert!(!role.allows(Permission::WriteDestinations), "{role:?}");
        }
        assert!(!Role::Viewer.allows(Permission::ReadInterceptDetails));
        assert!(!Role::Viewer.allows(Permission::ReadAudit));
        assert!(!Role::Provisioner.allows(Permission::ReadAudit));
        assert!(!Role::Auditor.allows(Permission::WriteIntercepts));
        assert!(Role::Admin.allows(Permission::WriteDestinations));
    }
}
