//! A member's classified ad as posted: every field checked at once, each refusal named in
//! French next to its field (the form and the API show the same words).

use chrono::{Duration, NaiveDate};

use super::{AdCategory, EmailAddress};

pub const MAX_TITLE_CHARS: usize = 120;
pub const MAX_BODY_CHARS: usize = 3000;
pub const MAX_PHONE_CHARS: usize = 30;
/// An ad runs at most this many days from the day it is posted, or extended.
pub const MAX_DAYS: i64 = 90;
/// What the form proposes.
pub const DEFAULT_DAYS: i64 = 60;
/// What « Prolonger » adds.
pub const EXTEND_DAYS: i64 = 30;
/// Members are told this many days before their ad expires.
pub const WARN_DAYS: i64 = 7;

/// An ad as sent by a form or the API: raw text, nothing trusted yet. Its schema in the API's
/// OpenAPI description is derived from this type; the fields' `///` lines are published
/// there, so they are in French.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[schema(
    description = "Une annonce telle que le membre l'envoie ; chaque champ est vérifié, toutes les erreurs sont rendues ensemble."
)]
pub struct AdInput {
    /// La catégorie : `don-materiel`, `recherche-materiel`, `transport-partage`,
    /// `mission-volontariat`, `recherche-partenaires`, `evenement` ou `autre`.
    #[serde(default)]
    pub category: String,
    /// Le titre, 120 caractères au plus, sur une ligne.
    #[serde(default)]
    pub title: String,
    /// Le texte en Markdown, 3 000 caractères au plus ; le HTML en est nettoyé.
    #[serde(default)]
    pub body: String,
    /// Le code d'un département d'Occitanie (`09`, `11`, … `82`).
    #[serde(default)]
    pub departement: String,
    /// Le pays partenaire (code ISO ou nom), s'il y en a un.
    #[serde(default)]
    pub country: Option<String>,
    /// Comment répondre : un courriel, un téléphone, ou les deux (au moins l'un).
    #[serde(default)]
    pub contact_email: Option<String>,
    /// Un numéro de téléphone : chiffres, espaces, points, tirets ou « + ».
    #[serde(default)]
    pub contact_phone: Option<String>,
    /// La date de fin, `AAAA-MM-JJ`, 90 jours au plus ; absente : dans 60 jours.
    #[serde(default)]
    pub expires_on: Option<String>,
}

/// An ad whose every field is valid. The body is still the member's Markdown: it is
/// sanitised when it is turned into HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdDraft {
    pub category: AdCategory,
    pub title: String,
    pub body: String,
    pub departement: String,
    pub country: Option<String>,
    pub contact_email: Option<String>,
    pub contact_phone: Option<String>,
    pub expires_on: NaiveDate,
}

/// One refusal: the field's key (as in the form and the JSON) and what to do, in French.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(description = "Un champ refusé : son nom et quoi corriger.")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

/// Checks every field of `input` on `today`; all refusals at once.
pub fn validate(input: &AdInput, today: NaiveDate) -> Result<AdDraft, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut refuse = |field: &'static str, message: &str| {
        errors.push(FieldError {
            field,
            message: message.to_string(),
        })
    };
    let category = AdCategory::parse(input.category.trim());
    if category.is_none() {
        refuse("category", "Choisissez une catégorie dans la liste.");
    }
    let title = one_line(&input.title);
    if title.is_empty() {
        refuse("title", "Donnez un titre à l'annonce.");
    } else if title.chars().count() > MAX_TITLE_CHARS {
        refuse(
            "title",
            &format!("Le titre dépasse {MAX_TITLE_CHARS} caractères : raccourcissez-le."),
        );
    }
    let body: String = input
        .body
        .trim()
        .replace("\r\n", "\n")
        .chars()
        .filter(|c| *c == '\n' || !c.is_control())
        .collect();
    if body.is_empty() {
        refuse("body", "Écrivez le texte de l'annonce.");
    } else if body.chars().count() > MAX_BODY_CHARS {
        refuse(
            "body",
            &format!(
                "Le texte dépasse {MAX_BODY_CHARS} caractères ({}) : raccourcissez-le.",
                body.chars().count()
            ),
        );
    }
    let departement = input.departement.trim().to_string();
    if !super::DEPARTEMENTS.contains(&departement.as_str()) {
        refuse(
            "departement",
            "Choisissez un département d'Occitanie dans la liste.",
        );
    }
    let country = match input.country.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let parsed = super::parse_country(raw);
            if parsed.is_none() {
                refuse("country", "Choisissez le pays dans la liste, ou aucun.");
            }
            parsed
        }
    };
    let contact_email = match input.contact_email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => match EmailAddress::parse(raw) {
            Ok(e) => Some(e.as_str().to_string()),
            Err(_) => {
                refuse(
                    "contact_email",
                    "Cette adresse n'est pas valide : vérifiez-la.",
                );
                None
            }
        },
    };
    let contact_phone = match input.contact_phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let digits = raw.chars().filter(char::is_ascii_digit).count();
            let allowed = raw
                .chars()
                .all(|c| c.is_ascii_digit() || " .-+()".contains(c));
            if !allowed || !(6..=15).contains(&digits) || raw.chars().count() > MAX_PHONE_CHARS {
                refuse(
                    "contact_phone",
                    "Ce numéro n'est pas valide : des chiffres, espaces, points ou « + » seulement.",
                );
                None
            } else {
                Some(raw.to_string())
            }
        }
    };
    let contact_refused = input
        .contact_email
        .as_deref()
        .is_some_and(|e| !e.trim().is_empty())
        || input
            .contact_phone
            .as_deref()
            .is_some_and(|p| !p.trim().is_empty());
    if contact_email.is_none() && contact_phone.is_none() && !contact_refused {
        refuse(
            "contact_email",
            "Indiquez comment vous répondre : un courriel, un téléphone, ou les deux.",
        );
    }
    let expires_on = match input.expires_on.as_deref().map(str::trim) {
        None | Some("") => Some(today + Duration::days(DEFAULT_DAYS)),
        Some(raw) => match NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
            Err(_) => {
                refuse(
                    "expires_on",
                    "Cette date n'est pas lisible : choisissez-la dans le calendrier (AAAA-MM-JJ).",
                );
                None
            }
            Ok(d) if d <= today => {
                refuse("expires_on", "Choisissez une date à venir.");
                None
            }
            Ok(d) if d > today + Duration::days(MAX_DAYS) => {
                refuse(
                    "expires_on",
                    &format!(
                        "Une annonce paraît au plus {MAX_DAYS} jours : choisissez une date jusqu'au {} au plus tard.",
                        (today + Duration::days(MAX_DAYS)).format("%d/%m/%Y")
                    ),
                );
                None
            }
            Ok(d) => Some(d),
        },
    };
    match (category, expires_on) {
        (Some(category), Some(expires_on)) if errors.is_empty() => Ok(AdDraft {
            category,
            title,
            body,
            departement,
            country,
            contact_email,
            contact_phone,
            expires_on,
        }),
        _ => Err(errors),
    }
}

/// The new expiry after « Prolonger »: 30 more days, never more than 90 days from today.
pub fn extended(expires_on: NaiveDate, today: NaiveDate) -> NaiveDate {
    (expires_on.max(today) + Duration::days(EXTEND_DAYS)).min(today + Duration::days(MAX_DAYS))
}

/// Control characters and line breaks become spaces; runs of spaces collapse.
fn one_line(raw: &str) -> String {
    raw.split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()
    }

    fn good() -> AdInput {
        AdInput {
            category: "don-materiel".into(),
            title: "  Dix ordinateurs\nportables  ".into(),
            body: "Des **portables** reconditionnés.".into(),
            departement: "34".into(),
            country: Some("sn".into()),
            contact_email: Some("Contact@Asso.example".into()),
            contact_phone: None,
            expires_on: None,
        }
    }

    #[test]
    fn a_good_ad_is_read_with_its_defaults() {
        let draft = validate(&good(), today()).unwrap();
        assert_eq!(draft.title, "Dix ordinateurs portables");
        assert_eq!(draft.country.as_deref(), Some("SN"));
        assert_eq!(draft.expires_on, today() + Duration::days(DEFAULT_DAYS));
        assert_eq!(draft.category, AdCategory::DonMateriel);
    }

    #[test]
    fn every_faulty_field_is_named_at_once() {
        let input = AdInput {
            category: "vente".into(),
            title: "x".repeat(121),
            body: " ".into(),
            departement: "75".into(),
            country: Some("XX".into()),
            contact_email: Some("pas une adresse".into()),
            contact_phone: Some("<script>".into()),
            expires_on: Some("2026-11-30".into()),
        };
        let errors = validate(&input, today()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "category",
                "title",
                "body",
                "departement",
                "country",
                "contact_email",
                "contact_phone",
                "expires_on"
            ]
        );
    }

    #[test]
    fn expiry_is_between_tomorrow_and_ninety_days() {
        let at = |days: i64| AdInput {
            expires_on: Some((today() + Duration::days(days)).to_string()),
            ..good()
        };
        assert!(validate(&at(1), today()).is_ok());
        assert!(validate(&at(MAX_DAYS), today()).is_ok());
        let far = validate(&at(MAX_DAYS + 1), today()).unwrap_err();
        assert!(far[0].message.contains("90 jours"), "{far:?}");
        assert!(validate(&at(0), today()).is_err());
        let bad = AdInput {
            expires_on: Some("demain".into()),
            ..good()
        };
        assert_eq!(validate(&bad, today()).unwrap_err()[0].field, "expires_on");
    }

    #[test]
    fn an_ad_needs_a_way_to_answer() {
        let input = AdInput {
            contact_email: None,
            contact_phone: Some(" ".into()),
            ..good()
        };
        let errors = validate(&input, today()).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "contact_email");
        let phone = AdInput {
            contact_email: None,
            contact_phone: Some("+33 6 12 34 56 78".into()),
            ..good()
        };
        assert!(validate(&phone, today()).is_ok());
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let input = AdInput {
            title: "é".repeat(MAX_TITLE_CHARS),
            body: "è".repeat(MAX_BODY_CHARS),
            ..good()
        };
        assert!(validate(&input, today()).is_ok());
    }

    #[test]
    fn extending_adds_thirty_days_within_the_limit() {
        let soon = today() + Duration::days(5);
        assert_eq!(extended(soon, today()), soon + Duration::days(30));
        let far = today() + Duration::days(80);
        assert_eq!(extended(far, today()), today() + Duration::days(MAX_DAYS));
        let past = today() - Duration::days(3);
        assert_eq!(extended(past, today()), today() + Duration::days(30));
    }
}
