//! The rules of consent, in one place: who may ask to subscribe through the form, when a new
//! confirmation may be sent, what an import does to a person already known, and what a staff
//! password must be. The store persists what these decide; the web, the CLI and the tests call
//! the same functions.

use chrono::{DateTime, Utc};

use super::SubscriberStatus;

/// At most one confirmation message per address in this period, whoever asks.
pub const CONFIRMATION_SPACING: chrono::Duration = chrono::Duration::hours(24);

/// A suppression entry's reason as stored (`suppressions.reason`).
pub const SUPPRESSED_ERASED: &str = "erased";

/// Whether the subscribe form may record a request for this address. Bounces, complaints and
/// staff blocks stay; a person who erased their data may come back by themselves (their
/// suppression goes when they confirm).
pub fn form_may_subscribe(suppression: Option<&str>, existing: Option<SubscriberStatus>) -> bool {
    let suppressed = suppression.is_some_and(|reason| reason != SUPPRESSED_ERASED);
    let stopped = matches!(
        existing,
        Some(SubscriberStatus::Bounced | SubscriberStatus::Complained)
    );
    !suppressed && !stopped
}

/// Whether a new confirmation may go out now: something new to confirm, and none sent in the
/// last [`CONFIRMATION_SPACING`].
pub fn confirmation_due(
    something_to_confirm: bool,
    last_sent: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> bool {
    something_to_confirm && last_sent.is_none_or(|t| now - t >= CONFIRMATION_SPACING)
}

/// What an import line does to the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportOutcome {
    Added,
    Updated,
    Unchanged,
    /// Erased, bounced or complained: never re-added silently.
    Suppressed,
}

/// A person as an import finds them.
pub struct Known<'a> {
    pub status: SubscriberStatus,
    pub name: &'a str,
    pub college: Option<&'a str>,
}

/// An import line for an address: added when unknown, refused when suppressed or stopped by
/// the mail system, updated (and made active) when its name, college or status differ.
pub fn import_outcome(
    suppressed: bool,
    known: Option<Known<'_>>,
    name: &str,
    college: Option<&str>,
) -> ImportOutcome {
    match known {
        _ if suppressed => ImportOutcome::Suppressed,
        Some(Known {
            status: SubscriberStatus::Bounced | SubscriberStatus::Complained,
            ..
        }) => ImportOutcome::Suppressed,
        Some(k)
            if k.name != name || k.college != college || k.status != SubscriberStatus::Active =>
        {
            ImportOutcome::Updated
        }
        Some(_) => ImportOutcome::Unchanged,
        None => ImportOutcome::Added,
    }
}

/// A staff password: long enough to resist guessing, short enough that hashing it stays cheap.
pub fn check_password(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < 10 {
        return Err("mot de passe trop court : 10 caractères au moins".into());
    }
    if length > 1024 {
        return Err("mot de passe trop long : 1 024 caractères au plus".into());
    }
    if password.chars().all(|c| password.starts_with(c)) {
        return Err("mot de passe fait d'un seul caractère répété".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_refuses_bounced_complained_and_blocked_addresses_but_not_erased_ones() {
        assert!(form_may_subscribe(None, None));
        assert!(form_may_subscribe(Some("erased"), None));
        assert!(!form_may_subscribe(Some("hard-bounce"), None));
        assert!(!form_may_subscribe(Some("staff"), None));
        assert!(!form_may_subscribe(
            None,
            Some(SubscriberStatus::Complained)
        ));
        assert!(form_may_subscribe(None, Some(SubscriberStatus::Pending)));
    }

    #[test]
    fn one_confirmation_a_day_and_only_for_something_new() {
        let now = Utc::now();
        assert!(confirmation_due(true, None, now));
        assert!(!confirmation_due(false, None, now));
        assert!(!confirmation_due(
            true,
            Some(now - chrono::Duration::hours(23)),
            now
        ));
        assert!(confirmation_due(
            true,
            Some(now - chrono::Duration::hours(24)),
            now
        ));
    }

    #[test]
    fn an_import_updates_only_what_differs_and_never_revives_a_bounce() {
        let known = |status, name| {
            Some(Known {
                status,
                name,
                college: None,
            })
        };
        use SubscriberStatus::*;
        assert_eq!(import_outcome(false, None, "A", None), ImportOutcome::Added);
        assert_eq!(
            import_outcome(true, None, "A", None),
            ImportOutcome::Suppressed
        );
        assert_eq!(
            import_outcome(false, known(Bounced, "A"), "A", None),
            ImportOutcome::Suppressed
        );
        assert_eq!(
            import_outcome(false, known(Active, "A"), "A", None),
            ImportOutcome::Unchanged
        );
        assert_eq!(
            import_outcome(false, known(Active, "A"), "B", None),
            ImportOutcome::Updated
        );
        assert_eq!(
            import_outcome(false, known(Pending, "A"), "A", None),
            ImportOutcome::Updated
        );
    }

    #[test]
    fn passwords_are_long_enough_and_not_one_repeated_character() {
        assert!(check_password("court").is_err());
        assert!(check_password("aaaaaaaaaaaa").is_err());
        assert!(check_password(&"x".repeat(2000)).is_err());
        assert!(check_password("correct cheval pile agrafe").is_ok());
    }
}
