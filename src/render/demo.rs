//! A realistic issue of each title, made of fixed data: the golden files, the screenshots in
//! `docs/` and the render benchmark all use it, so they show what subscribers would get.

use chrono::{NaiveDate, TimeZone, Utc};

use super::model::{IssueView, OrgView, PublicPages};
use crate::domain::IssueEntry;
use crate::domain::Newsletter;

/// (section, title, summary, source or organisation, theme, country, category)
type Sample = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const COOPDEV: &[Sample] = &[
    ("appels-a-projets", "Appel à projets « Eau et assainissement au Sahel »",
     "<p>L'Agence française de développement soutient les collectivités qui portent, avec leurs partenaires au Sénégal, au Mali et au Niger, des projets d'accès à l'eau potable et à l'assainissement. Les dossiers sont instruits en deux temps : note d'intention, puis dossier complet.</p>",
     "Agence française de développement", "eau-assainissement", "SN", ""),
    ("politiques-publiques", "Le CICID fixe les priorités de la politique de développement pour 2027",
     "<p>Le comité interministériel réaffirme la place de la santé mondiale, du climat et de l'éducation, et annonce une simplification des guichets ouverts aux collectivités territoriales.</p>",
     "Ministère de l'Europe et des Affaires étrangères", "financement", "", ""),
    ("agenda", "Rencontres régionales de la coopération internationale à Montpellier",
     "<p>Deux journées d'ateliers, de témoignages et de rencontres entre acteurs de la solidarité internationale en Occitanie, avec l'Agora des initiatives et la Tribune des projets.</p>",
     "Occitanie Coopération", "", "", ""),
    ("ressources", "Guide pratique : monter un projet de volontariat de réciprocité",
     "<p>France Volontaires publie un guide pour accueillir des volontaires internationaux en France : statut, financement, accompagnement et retours d'expérience de structures d'accueil.</p>",
     "France Volontaires", "jeunesse-volontariat", "", ""),
    ("appels-a-projets", "Fonds pour l'éducation à la citoyenneté mondiale 2027",
     "<p>Le fonds finance des actions d'ECSI menées par des associations et des établissements scolaires : interventions en classe, festivals, parcours de jeunes. Montant maximum : 15 000 euros par projet.</p>",
     "Région Occitanie", "education-citoyennete", "", ""),
    ("politiques-publiques", "Union européenne : le programme Global Europe ouvre sa revue à mi-parcours",
     "<p>La Commission consulte les autorités locales et la société civile sur les priorités géographiques et thématiques du programme jusqu'en 2027.</p>",
     "Commission européenne", "financement", "", ""),
    ("appels-a-projets", "Santé maternelle à Madagascar : appel à propositions",
     "<p>Un appel destiné aux ONG et aux hôpitaux partenaires pour renforcer les maternités de district, former les sages-femmes et équiper les centres de santé de base.</p>",
     "Agence française de développement", "sante", "MG", ""),
    ("agenda", "Webinaire : financer un projet de coopération décentralisée",
     "<p>Une heure pour comprendre les cofinancements du ministère, de la Région et des agences de l'eau, avec des exemples de budgets.</p>",
     "Cités Unies France", "financement", "", ""),
];

const ECHOS: &[Sample] = &[
    ("actualites", "Retour sur l'Agora des initiatives de Toulouse",
     "<p>Plus de cent cinquante participants ont découvert les projets de vingt membres du réseau, de la santé communautaire au Burkina Faso aux jardins partagés de Carcassonne.</p>",
     "Occitanie Coopération", "", "", ""),
    ("annonces", "Donne ordinateurs portables reconditionnés",
     "<p>Douze ordinateurs portables reconditionnés, avec chargeurs, pour une association ou une école partenaire.</p>",
     "Électrons solidaires", "", "", "don-materiel"),
    ("annonces", "Cherche place dans un conteneur vers Dakar",
     "<p>Nous cherchons deux mètres cubes dans un envoi groupé vers Dakar au premier trimestre, pour du matériel médical.</p>",
     "Santé Sud Solidarité", "", "", "transport-partage"),
    ("agenda", "Tribune des projets : candidatures ouvertes",
     "<p>Présentez votre projet en dix minutes devant les financeurs de la région lors des prochaines rencontres régionales.</p>",
     "Occitanie Coopération", "", "", ""),
    ("volontariat", "Service civique : animateur ou animatrice ECSI à Montpellier",
     "<p>Huit mois pour animer des ateliers d'éducation à la citoyenneté mondiale dans les collèges de l'Hérault.</p>",
     "Maison des citoyens du monde", "", "", ""),
    ("annonces", "Donne vingt cartons de manuels scolaires",
     "<p>Manuels de primaire en français, en bon état, à retirer à Albi.</p>",
     "Lire pour grandir", "", "", "don-materiel"),
    ("actualites", "Une nouvelle adhérente : la commune de Figeac",
     "<p>La commune rejoint le réseau avec son jumelage au Cambodge et un projet de coopération sur la gestion des déchets.</p>",
     "Occitanie Coopération", "", "", ""),
    ("annonces", "Recherche partenaire au Brésil pour un projet d'agroécologie",
     "<p>Association du Gers cherche une coopérative ou une école agricole du Nordeste pour un échange de jeunes agriculteurs.</p>",
     "Terres partagées", "", "", "recherche-partenaires"),
];

/// An issue of `newsletter` with `items` entries cycled from the samples above.
pub fn demo_issue(newsletter: &'static Newsletter, items: usize) -> IssueView {
    let (subject, intro, entries) = demo_rows(newsletter, items);
    IssueView::build(
        newsletter,
        newsletter.sections,
        &subject,
        &intro,
        &entries,
        OrgView {
            name: "Occitanie Coopération".into(),
            postal_address: "12 rue de la Solidarité, 31000 Toulouse".into(),
            timezone: chrono_tz::Europe::Paris,
        },
        PublicPages {
            issue: format!("https://relais.example.org/lettres/{}/42", newsletter.slug),
            subscribe: "https://relais.example.org/".into(),
            archive: format!("https://relais.example.org/lettres/{}", newsletter.slug),
            post_ad: "https://relais.example.org/espace-membre".into(),
        },
    )
}

/// The stored rows behind [`demo_issue`].
/// Subject, introduction and entries.
pub fn demo_rows(
    newsletter: &'static Newsletter,
    items: usize,
) -> (String, String, Vec<IssueEntry>) {
    let samples = if newsletter.slug == "echos-du-reseau" {
        ECHOS
    } else {
        COOPDEV
    };
    let published = Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap();
    let subject = "Numéro 42 — novembre 2026".to_string();
    let intro = "Bonjour à toutes et à tous, voici les nouvelles du mois : des appels ouverts jusqu'en janvier, les rencontres régionales qui approchent, et les initiatives de nos membres.".to_string();
    let entries: Vec<IssueEntry> = (0..items)
        .map(|i| {
            let (section, title, summary, who, theme, country, category) =
                samples[i % samples.len()];
            let round = i / samples.len();
            let is_ad = !category.is_empty();
            IssueEntry {
                id: i as i64 + 1,
                section: section.into(),
                position: i as i64,
                item_id: (!is_ad).then_some(i as i64 + 1),
                ad_id: is_ad.then_some(i as i64 + 1),
                title: if round == 0 {
                    title.into()
                } else {
                    format!("{title} ({})", round + 1)
                },
                summary: summary.into(),
                url: (!is_ad).then(|| format!("https://www.example.org/veille/{}", i + 1)),
                source_name: (!is_ad).then(|| who.into()),
                published_at: (!is_ad).then_some(published),
                deadline: (section == "appels-a-projets")
                    .then(|| NaiveDate::from_ymd_opt(2027, 1, 15).unwrap()),
                category: is_ad.then(|| category.into()),
                org_name: is_ad.then(|| who.into()),
                departement: is_ad.then(|| ["31", "34", "81", "32"][i % 4].into()),
                expires_on: is_ad.then(|| NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()),
                body_html: None,
                contact_email: None,
                contact_phone: None,
                themes: if theme.is_empty() {
                    vec![]
                } else {
                    vec![theme.into()]
                },
                countries: if country.is_empty() {
                    vec![]
                } else {
                    vec![country.into()]
                },
            }
        })
        .collect();
    (subject, intro, entries)
}
