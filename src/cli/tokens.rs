//! `relais token`: API tokens for a staff account or for a person of a member organisation.

use anyhow::bail;

use super::print_json;
use crate::app::App;
use crate::domain::EmailAddress;
use crate::store::{AdActor, StoreError};

/// Prints the new token alone on stdout: it is shown this once and stored only hashed.
pub(super) async fn create(
    app: &App,
    editor: Option<&str>,
    member: Option<&str>,
    label: &str,
) -> anyhow::Result<()> {
    let owner = match (editor, member) {
        (Some(email), None) => {
            let email = parse(email)?;
            let users = app.store.list_users().await?;
            let Some(user) = users.iter().find(|u| u.email == email.as_str()) else {
                bail!("aucun compte de la rédaction n'a l'adresse {email} (voir relais user add)");
            };
            if user.disabled {
                bail!("le compte de la rédaction {email} est désactivé");
            }
            AdActor::Staff { user_id: user.id }
        }
        (None, Some(email)) => {
            let email = parse(email)?;
            let Some(person) = app.store.person_by_email(email.as_str()).await? else {
                bail!("aucune personne d'un membre n'a l'adresse {email} (voir relais member add)");
            };
            if person.member_state != "active" {
                bail!(
                    "le membre « {} » n'est pas actif : validez-le d'abord dans le bureau",
                    person.org_name
                );
            }
            AdActor::Member {
                member_id: person.member_id,
                person_id: person.id,
            }
        }
        _ => bail!("indiquez --editor EMAIL ou --member EMAIL"),
    };
    let label = crate::render::printable_line(label.trim());
    let (id, token) = app.store.create_api_token(owner, &label).await?;
    eprintln!("jeton n° {id} créé ; il ne sera plus affiché : gardez-le en lieu sûr");
    println!("{token}");
    Ok(())
}

fn parse(email: &str) -> anyhow::Result<EmailAddress> {
    EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("adresse refusée : {e}"))
}

pub(super) async fn list(app: &App, json: bool) -> anyhow::Result<()> {
    let moment = |t: chrono::DateTime<chrono::Utc>| {
        t.with_timezone(&app.config.timezone)
            .format("%d/%m/%Y %H:%M")
            .to_string()
    };
    for t in app.store.api_tokens().await? {
        if json {
            print_json(&t)?;
            continue;
        }
        let owner = match &t.org_name {
            Some(org) => format!("membre {} ({org})", t.email),
            None => format!("rédaction {}", t.email),
        };
        let state = match (t.revoked_at, t.last_used_at) {
            (Some(at), _) => format!("révoqué le {}", moment(at)),
            (None, Some(at)) => format!("utilisé le {}", moment(at)),
            (None, None) => "jamais utilisé".to_string(),
        };
        println!(
            "{:>4}  {owner}  « {} »  créé le {}  {state}",
            t.id,
            t.label,
            moment(t.created_at)
        );
    }
    Ok(())
}

pub(super) async fn revoke(app: &App, id: i64) -> anyhow::Result<()> {
    match app.store.revoke_api_token(id).await {
        Ok(true) => eprintln!("jeton n° {id} révoqué"),
        Ok(false) => eprintln!("le jeton n° {id} était déjà révoqué"),
        Err(StoreError::NotFound) => bail!("aucun jeton n° {id} (voir relais token list)"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
