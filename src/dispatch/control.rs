//! Pause, resume and cancel an issue's sending: what each does to its dispatches, and the
//! answer in words, for the CLI and the desk alike. Workers need no signal: a claim, and the
//! mark that starts an attempt, only take deliveries of active dispatches.

use crate::domain::DispatchState;
use crate::store::{ControlOutcome, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("le numéro {0} n'a pas d'envoi : rien à {1}")]
    NoDispatch(i64, &'static str),
    #[error("l'envoi du numéro {0} a été annulé : il ne reprend pas")]
    Cancelled(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `issue send` on a dispatch that was cancelled: refused, so that a cancel stays one.
#[derive(Debug, thiserror::Error)]
#[error(
    "l'envoi {dispatch} du numéro {issue} a été annulé ({reason}) : il ne repart pas, \
     et personne n'y est ajouté. Les messages déjà partis le restent."
)]
pub struct DispatchCancelled {
    pub dispatch: i64,
    pub issue: i64,
    pub reason: String,
}

impl Control {
    fn verb(self) -> &'static str {
        match self {
            Control::Pause => "suspendre",
            Control::Resume => "reprendre",
            Control::Cancel => "annuler",
        }
    }
}

/// Applies `control` to every dispatch of the issue; `who` goes into the recorded reason.
/// Returns what changed and a sentence saying it.
pub async fn control_issue(
    store: &Store,
    issue: i64,
    control: Control,
    who: &str,
) -> Result<(ControlOutcome, String), ControlError> {
    use DispatchState::*;
    let (from, to, reason): (&[DispatchState], _, _) = match control {
        Control::Pause => (&[Active][..], Paused, format!("à la demande de {who}")),
        Control::Resume => (&[Paused], Active, String::new()),
        Control::Cancel => (
            &[Active, Paused],
            Cancelled,
            format!("à la demande de {who}"),
        ),
    };
    let outcome = store.control_dispatches(issue, from, to, &reason).await?;
    if outcome.dispatches == 0 {
        return Err(ControlError::NoDispatch(issue, control.verb()));
    }
    let states: Vec<DispatchState> = store
        .dispatch_controls(issue)
        .await?
        .iter()
        .map(|d| d.state)
        .collect();
    if control == Control::Resume && outcome.changed == 0 && states.iter().all(|s| *s == Cancelled)
    {
        return Err(ControlError::Cancelled(issue));
    }
    let n = outcome.changed;
    let message = match (control, n) {
        (Control::Pause, 0) => format!("numéro {issue} : aucun envoi en cours à suspendre"),
        (Control::Pause, _) => format!(
            "numéro {issue} : {n} envoi(s) suspendu(s) ; les messages déjà partis vers le serveur \
             se terminent, les autres attendent `relais issue resume {issue}`"
        ),
        (Control::Resume, 0) => format!("numéro {issue} : aucun envoi suspendu à reprendre"),
        (Control::Resume, _) => format!("numéro {issue} : {n} envoi(s) repris"),
        (Control::Cancel, 0) => format!("numéro {issue} : aucun envoi à annuler (déjà annulé)"),
        (Control::Cancel, _) => format!(
            "numéro {issue} : {n} envoi(s) annulé(s) ; {} message(s) qui restaient à envoyer \
             ne partiront pas",
            outcome.skipped
        ),
    };
    Ok((outcome, message))
}
