//! The rules of a user's lifecycle that an operator or an account admin may not break: which
//! status changes are allowed, and that an account never loses its last active admin. Pure:
//! the services load the members and apply the verdict.

use super::{Role, UserStatus};

/// Why a lifecycle change is refused. `Display` is safe to show a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleRefusal {
    #[error("This is the account's last active admin: make another member admin first.")]
    LastAdmin,
    #[error(
        "A user becomes invited only through an invitation; set status to active or disabled."
    )]
    InvitedNotSettable,
    #[error("An invited user becomes active by accepting the invitation.")]
    InvitedCannotActivate,
    #[error("Status must be active or disabled.")]
    UnknownStatus,
}

impl LifecycleRefusal {
    /// Stable code for API clients and logs.
    pub fn code(self) -> &'static str {
        match self {
            Self::LastAdmin => "last_admin",
            Self::InvitedNotSettable | Self::InvitedCannotActivate | Self::UnknownStatus => {
                "invalid_status"
            }
        }
    }
}

/// A status an operator or admin asks for (`active` or `disabled`; never `invited`).
pub fn parse_requested_status(input: &str) -> Result<UserStatus, LifecycleRefusal> {
    match input.trim() {
        "active" => Ok(UserStatus::Active),
        "disabled" => Ok(UserStatus::Disabled),
        "invited" => Err(LifecycleRefusal::InvitedNotSettable),
        _ => Err(LifecycleRefusal::UnknownStatus),
    }
}

/// A status change that does something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// To `disabled`: sessions end, pending invitations are spent.
    Disable,
    /// Back from `disabled`, to `target`: `active`, or `invited` for a user who never had a
    /// way to sign in (no password, no SSO link), so enabling can not skip the invitation.
    Enable { target: UserStatus },
}

impl StatusChange {
    /// The user's status once the change is made.
    pub fn target(self) -> UserStatus {
        match self {
            Self::Disable => UserStatus::Disabled,
            Self::Enable { target } => target,
        }
    }
}

/// What moving from `from` to `to` means; `None` when nothing changes.
pub fn status_change(
    from: UserStatus,
    to: UserStatus,
    has_credentials: bool,
) -> Result<Option<StatusChange>, LifecycleRefusal> {
    match (from, to) {
        (_, UserStatus::Invited) => Err(LifecycleRefusal::InvitedNotSettable),
        (a, b) if a == b => Ok(None),
        (UserStatus::Active | UserStatus::Invited, UserStatus::Disabled) => {
            Ok(Some(StatusChange::Disable))
        }
        (UserStatus::Disabled, UserStatus::Active) => Ok(Some(StatusChange::Enable {
            target: if has_credentials {
                UserStatus::Active
            } else {
                UserStatus::Invited
            },
        })),
        (UserStatus::Invited, UserStatus::Active) => Err(LifecycleRefusal::InvitedCannotActivate),
        // Unreachable: every other pair is covered above; refuse when in doubt.
        _ => Err(LifecycleRefusal::UnknownStatus),
    }
}

/// A role change that does something, in one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleChange {
    pub from: Role,
    pub to: Role,
}

impl RoleChange {
    /// From `current` to `requested`; `None` when no role is asked for or it is the role
    /// already.
    pub fn between(current: Role, requested: Option<Role>) -> Option<Self> {
        requested
            .filter(|to| *to != current)
            .map(|to| Self { from: current, to })
    }
}

/// One member of an account as the last-admin rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberState {
    pub status: UserStatus,
    pub role: Role,
}

impl MemberState {
    fn is_active_admin(self) -> bool {
        self.status == UserStatus::Active && self.role == Role::Admin
    }

    /// The member once the user's status is `status` (a status reaches every account) and,
    /// when `role` is given, their role here is `role` (a role is per account).
    pub fn after(self, status: UserStatus, role: Option<Role>) -> Self {
        Self {
            status,
            role: role.unwrap_or(self.role),
        }
    }
}

/// Refuses a change that takes away an account's last active admin. `target` is the changed
/// member's state now, `after` what it becomes (`None`: the membership is removed) and
/// `others` the account's other members. An account that has no active admin already is
/// not blocked by the rule (the operator fixes it).
pub fn keep_an_admin(
    target: MemberState,
    after: Option<MemberState>,
    others: impl IntoIterator<Item = MemberState>,
) -> Result<(), LifecycleRefusal> {
    let stays_admin = after.is_some_and(MemberState::is_active_admin);
    if !target.is_active_admin() || stays_admin {
        return Ok(());
    }
    if others.into_iter().any(MemberState::is_active_admin) {
        Ok(())
    } else {
        Err(LifecycleRefusal::LastAdmin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN: MemberState = MemberState {
        status: UserStatus::Active,
        role: Role::Admin,
    };
    const USER: MemberState = MemberState {
        status: UserStatus::Active,
        role: Role::User,
    };
    const DISABLED_ADMIN: MemberState = MemberState {
        status: UserStatus::Disabled,
        role: Role::Admin,
    };

    #[test]
    fn the_last_active_admin_cannot_be_removed_disabled_or_demoted() {
        for after in [None, Some(DISABLED_ADMIN), Some(USER)] {
            assert_eq!(
                keep_an_admin(ADMIN, after, [USER, DISABLED_ADMIN]),
                Err(LifecycleRefusal::LastAdmin),
                "{after:?}"
            );
        }
    }

    #[test]
    fn an_admin_with_another_active_admin_beside_them_may_go() {
        assert_eq!(keep_an_admin(ADMIN, None, [USER, ADMIN]), Ok(()));
        assert_eq!(keep_an_admin(ADMIN, Some(USER), [ADMIN]), Ok(()));
    }

    #[test]
    fn changes_to_other_members_are_not_blocked_by_the_rule() {
        assert_eq!(keep_an_admin(USER, None, []), Ok(()));
        assert_eq!(keep_an_admin(DISABLED_ADMIN, None, []), Ok(()));
        assert_eq!(keep_an_admin(ADMIN, Some(ADMIN), []), Ok(()));
        assert_eq!(
            keep_an_admin(USER, Some(ADMIN), []),
            Ok(()),
            "promotion is fine"
        );
    }

    #[test]
    fn invited_is_never_a_requested_status() {
        assert_eq!(
            parse_requested_status("invited"),
            Err(LifecycleRefusal::InvitedNotSettable)
        );
        assert_eq!(
            parse_requested_status("gone"),
            Err(LifecycleRefusal::UnknownStatus)
        );
        assert_eq!(parse_requested_status("disabled"), Ok(UserStatus::Disabled));
    }

    #[test]
    fn status_changes_follow_the_lifecycle() {
        use UserStatus::*;
        assert_eq!(
            status_change(Active, Disabled, true),
            Ok(Some(StatusChange::Disable))
        );
        assert_eq!(
            status_change(Invited, Disabled, false),
            Ok(Some(StatusChange::Disable))
        );
        assert_eq!(
            status_change(Disabled, Active, true),
            Ok(Some(StatusChange::Enable { target: Active }))
        );
        assert_eq!(
            status_change(Disabled, Active, false),
            Ok(Some(StatusChange::Enable { target: Invited })),
            "enabling never skips an invitation"
        );
        assert_eq!(
            status_change(Invited, Active, false),
            Err(LifecycleRefusal::InvitedCannotActivate)
        );
        assert_eq!(status_change(Active, Active, true), Ok(None));
        assert_eq!(
            status_change(Active, Invited, true),
            Err(LifecycleRefusal::InvitedNotSettable)
        );
    }

    #[test]
    fn a_status_change_names_the_status_it_leads_to() {
        assert_eq!(StatusChange::Disable.target(), UserStatus::Disabled);
        assert_eq!(
            StatusChange::Enable {
                target: UserStatus::Invited
            }
            .target(),
            UserStatus::Invited
        );
    }

    #[test]
    fn a_member_after_a_change_keeps_their_role_unless_it_changes_here() {
        assert_eq!(
            ADMIN.after(UserStatus::Disabled, None),
            DISABLED_ADMIN,
            "the status reaches every account"
        );
        assert_eq!(ADMIN.after(UserStatus::Active, Some(Role::User)), USER);
    }

    #[test]
    fn only_a_different_role_is_a_role_change() {
        assert_eq!(RoleChange::between(Role::User, None), None);
        assert_eq!(RoleChange::between(Role::User, Some(Role::User)), None);
        assert_eq!(
            RoleChange::between(Role::User, Some(Role::Admin)),
            Some(RoleChange {
                from: Role::User,
                to: Role::Admin
            })
        );
    }
}
