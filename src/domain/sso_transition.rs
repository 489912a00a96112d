//! What a change of an account's SSO settings does to SSO as a whole (SPEC §3.5): turning it on
//! runs the enable step (usernames become emails, SSO invitations), turning it off runs the
//! rollback (temporary passwords), anything else only replaces the settings. Pure: the
//! services run the steps.

/// The step a settings change takes, from whether SSO was on before and is on after.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoTransition {
    /// Off → on: the enable step runs.
    Enable,
    /// On → off: the rollback runs.
    Disable,
    /// On stays on, or off stays off: only the settings change.
    Keep,
}

impl SsoTransition {
    pub fn between(was_enabled: bool, enabled: bool) -> Self {
        match (was_enabled, enabled) {
            (false, true) => Self::Enable,
            (true, false) => Self::Disable,
            _ => Self::Keep,
        }
    }

    /// The audit action of the change.
    pub fn audit_action(self) -> &'static str {
        match self {
            Self::Enable => "sso.enable",
            Self::Disable => "sso.disable",
            Self::Keep => "sso.settings",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_change_of_enabled_runs_a_step() {
        assert_eq!(SsoTransition::between(false, true), SsoTransition::Enable);
        assert_eq!(SsoTransition::between(true, false), SsoTransition::Disable);
        assert_eq!(SsoTransition::between(true, true), SsoTransition::Keep);
        assert_eq!(SsoTransition::between(false, false), SsoTransition::Keep);
    }

    #[test]
    fn each_step_has_its_audit_action() {
        assert_eq!(SsoTransition::Enable.audit_action(), "sso.enable");
        assert_eq!(SsoTransition::Disable.audit_action(), "sso.disable");
        assert_eq!(SsoTransition::Keep.audit_action(), "sso.settings");
    }
}
