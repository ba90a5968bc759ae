//! The command line: argument definitions and one function per command. Commands call stage
//! functions; output is for people on stderr and for scripts on stdout (`--json`: one JSON
//! object per line).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::audience::import;
use crate::desk::{self, EntrySource};
use crate::domain::{self, EmailAddress, Newsletter};
use crate::render::Recipient;
use crate::store::NewMember;
use crate::store::{ImportOutcome, ItemFilter};

mod control;
mod tokens;

#[derive(Debug, Parser)]
#[command(
    name = "relais",
    version,
    about = "Veille, lettres d'information et envois d'Occitanie Coopération",
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true,
    subcommand_help_heading = "Commandes",
    subcommand_value_name = "COMMANDE"
)]
pub struct Cli {
    /// Affiche l'aide (de la commande qui précède, s'il y en a une).
    #[arg(short = 'h', long, global = true, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// Affiche la version.
    #[arg(short = 'V', long, action = clap::ArgAction::Version)]
    version: Option<bool>,
    /// Fichier de configuration (par défaut : $RELAIS_CONFIG, sinon ./relais.toml s'il existe).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Écrit un objet JSON par ligne sur la sortie standard (clés en anglais, stables).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// The help's template, in French: clap writes « Usage: » itself otherwise.
const HELP_TEMPLATE: &str =
    "{before-help}{about-with-newline}\nUtilisation : {usage}\n\n{all-args}{after-help}";

/// `cmd` and all its subcommands with the French help template.
fn french(cmd: clap::Command) -> clap::Command {
    cmd.help_template(HELP_TEMPLATE)
        .subcommand_help_heading("Commandes")
        .mut_subcommands(french)
}

impl Cli {
    /// The command line as clap reads it, every help page in French (the usage line's heading,
    /// the subcommands' heading), then parsed. Exits with the help or an error message.
    pub fn parse_french() -> Self {
        use clap::{CommandFactory, FromArgMatches};
        let matches = french(Cli::command()).get_matches();
        Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Met la base de données à jour (migrations).
    Migrate,
    /// Copie cohérente de la base SQLite dans PATH, même pendant que le service tourne
    /// (PostgreSQL : utilisez pg_dump).
    Backup {
        /// Le fichier à écrire (il ne doit pas exister).
        path: std::path::PathBuf,
    },
    /// Lance le service : site web, planification, relève des flux, envois.
    Serve,
    /// Relève maintenant les sources nommées (ou toutes les sources actives).
    Fetch {
        /// Le nom court d'une source de sources.toml, à répéter pour plusieurs ; aucune : toutes les sources actives.
        #[arg(long = "source", value_name = "SLUG")]
        sources: Vec<String>,
    },
    /// Chaque source et son état ; `sources check` les relève une fois chacune.
    Sources {
        #[command(subcommand)]
        action: Option<SourcesCommand>,
    },
    /// Les éléments de veille, du plus récent au plus ancien ; `items retag` les étiquette à nouveau.
    Items {
        #[command(subcommand)]
        action: Option<ItemsCommand>,
        /// Seulement les éléments de cette source (son nom court).
        #[arg(long, value_name = "SLUG")]
        source: Option<String>,
        /// Seulement les éléments dans cet état : new (nouveau), selected (retenu), dismissed (écarté) ou published (publié).
        #[arg(long, value_name = "STATUS")]
        status: Option<String>,
        /// Combien d'éléments au plus.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Composer, afficher et envoyer les numéros.
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Importer ou exporter les abonné·es.
    #[command(subcommand)]
    Subscribers(SubscribersCommand),
    /// Les segments (publics enregistrés).
    #[command(subcommand)]
    Segment(SegmentCommand),
    /// Les structures membres.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Les comptes de la rédaction.
    #[command(subcommand)]
    User(UserCommand),
    /// Les courriels de service (liens de confirmation) : en file, envoyés, à réessayer, en échec.
    #[command(subcommand)]
    Mail(MailCommand),
    /// La programmation ([[schedule]] de relais.toml) : les prochaines échéances de chaque titre,
    /// puis les exécutions passées, de la plus récente à la plus ancienne.
    Schedule,
    /// Les jetons de l'API JSON (/api/v1) : créer, lister, révoquer.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Les avis de non-remise et les plaintes renvoyés par les serveurs de messagerie.
    #[command(subcommand)]
    Bounces(BouncesCommand),
}

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Lit les avis de non-remise (DSN) et les plaintes (ARF) d'un maildir, d'un dossier de
    /// fichiers .eml ou d'un fichier .eml ; rattache chacun à son envoi et dit combien l'ont été.
    /// Un rejet définitif ou une plainte exclut l'adresse des envois suivants, des rejets
    /// temporaires répétés aussi ; un refus lié à l'expéditeur (5.7.x) est seulement noté.
    Ingest {
        /// Un maildir (ses messages non lus, rangés ensuite dans cur/ comme lus), un dossier de
        /// fichiers .eml ou un fichier.
        path: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum ItemsCommand {
    /// Étiquette à nouveau chaque élément enregistré avec les thèmes, pays et mots-clés actuels de
    /// sources.toml (après un changement des règles) ; dit combien ont changé.
    Retag,
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Relève chaque source une fois, sans rien enregistrer, et dit lesquelles répondent par un
    /// flux (combien d'entrées, combien ses mots-clés keep en retiennent) et lesquelles non.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Les courriels par type et par état, et les derniers en échec ou en attente d'un nouvel essai.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum IssueCommand {
    /// Crée un numéro en brouillon ; affiche son numéro.
    Create {
        /// Le titre : coopdev-info ou echos-du-reseau.
        #[arg(value_name = "NEWSLETTER")]
        newsletter: String,
        /// L'objet (par défaut : le titre et la date du jour).
        #[arg(long)]
        subject: Option<String>,
    },
    /// Ajoute un élément de veille ou une annonce à un numéro.
    Add {
        /// L'identifiant du numéro (tel qu'`issue create` l'a affiché).
        issue: i64,
        #[command(flatten)]
        what: AddWhat,
        /// La rubrique, par sa clé (coopdev-info : appels-a-projets, politiques-publiques, agenda,
        /// ressources ; echos-du-reseau : actualites, annonces, agenda, volontariat ; ou les clés
        /// des tables [[section]] de relais.toml). Par défaut : la rubrique habituelle du titre.
        #[arg(long, value_name = "KEY")]
        section: Option<String>,
    },
    /// Affiche le numéro tel qu'un·e abonné·e le recevrait.
    Render {
        /// L'identifiant du numéro.
        issue: i64,
        /// Ce qu'il faut afficher.
        #[arg(long, value_enum, default_value_t = Format::Html)]
        format: Format,
        /// Tel que cette adresse le recevrait : les liens personnels d'un·e abonné·e, ou des liens d'aperçu
        /// pour toute autre adresse.
        #[arg(long, value_name = "EMAIL")]
        to: Option<String>,
    },
    /// Fige les destinataires et met l'envoi en file (reprend un envoi existant).
    Send {
        /// L'identifiant du numéro.
        issue: i64,
        /// Seulement les abonné·es de ce segment (son nom court) ; par défaut : tous les abonné·es
        /// du titre.
        #[arg(long, value_name = "SLUG")]
        segment: Option<String>,
        /// Envoyer depuis cette commande jusqu'à ce qu'il ne reste rien à tenter maintenant.
        #[arg(long)]
        wait: bool,
    },
    /// Les remises du numéro, par état, et l'état de ses envois (en cours, suspendu, annulé).
    Status {
        /// L'identifiant du numéro.
        issue: i64,
    },
    /// Suspend les envois du numéro : plus aucun message ne part (ceux déjà transmis au serveur
    /// se terminent) jusqu'à `issue resume`.
    Pause {
        /// L'identifiant du numéro.
        issue: i64,
    },
    /// Reprend les envois suspendus du numéro (à la main ou par le disjoncteur 5.7.x).
    Resume {
        /// L'identifiant du numéro.
        issue: i64,
    },
    /// Annule les envois du numéro : les messages qui restaient ne partiront jamais
    /// (`issue send` ne les relance pas) ; ceux déjà partis le restent.
    Cancel {
        /// L'identifiant du numéro.
        issue: i64,
    },
    /// Remet en file les messages incertains (partis sans confirmation du serveur, après un
    /// arrêt brutal), pour un essai de plus : certaines personnes les recevront peut-être deux fois.
    Resend {
        /// L'identifiant du numéro.
        issue: i64,
        /// Renvoyer les messages incertains (obligatoire : c'est votre décision de risquer un doublon).
        #[arg(long)]
        unknown: bool,
    },
    /// Programme l'envoi d'un numéro (il part à l'heure dite s'il est validé).
    Schedule {
        /// L'identifiant du numéro.
        issue: i64,
        /// Quand : RFC 3339 (2026-12-03T09:00:00+01:00) ou « AAAA-MM-JJ HH:MM » à l'heure du fuseau
        /// configuré.
        #[arg(long, value_name = "TIME")]
        at: String,
        /// Seulement les abonné·es de ce segment (son nom court) ; par défaut : tout le titre.
        #[arg(long, value_name = "SLUG")]
        segment: Option<String>,
    },
    /// Valide un numéro pour l'envoi (ce que fait le bouton « Valider » de la rédaction).
    Approve {
        /// L'identifiant du numéro.
        issue: i64,
        /// Au nom de ce compte de la rédaction (`relais user add`) ; sans lui, le numéro est
        /// validé directement, même si son titre demande deux validations.
        #[arg(long, value_name = "EMAIL")]
        by: Option<String>,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct AddWhat {
    /// Le numéro d'un élément de veille (`relais items`).
    #[arg(long, value_name = "ID")]
    item: Option<i64>,
    /// Le numéro d'une annonce.
    #[arg(long, value_name = "ID")]
    ad: Option<i64>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// La partie HTML, telle que les messageries l'affichent.
    Html,
    /// La partie texte.
    Text,
    /// Le MJML avant compilation (pour travailler les gabarits).
    Mjml,
    /// Le message MIME complet tel qu'il partirait vers --to.
    Eml,
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Importe un fichier CSV (colonnes email, name, newsletters, themes, countries, departements, college).
    Import {
        /// Le fichier CSV : une ligne d'en-tête, les valeurs d'une liste séparées par `;` (voir le README).
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
    },
    /// Exporte chaque abonné·e avec ses centres d'intérêt et ses consentements (CSV, ou --json).
    Export,
}

#[derive(Debug, Subcommand)]
pub enum SegmentCommand {
    /// Les segments, avec le nombre d'abonné·es de chacun aujourd'hui.
    List,
    /// Enregistre un segment : les valeurs d'une même option s'additionnent ; des options différentes doivent toutes correspondre.
    Add {
        /// Le nom court du segment, [a-z0-9-]+.
        slug: String,
        /// Le titre : coopdev-info ou echos-du-reseau.
        #[arg(long)]
        newsletter: String,
        /// Un thème : sante, eau-assainissement, education-citoyennete, jeunesse-volontariat,
        /// formation, financement, migrations-accueil, agriculture, economie-mecenat, urgence.
        #[arg(long = "theme", value_name = "THEME")]
        themes: Vec<String>,
        /// Un pays, par son code ISO (SN, MG…).
        #[arg(long = "country", value_name = "CODE")]
        countries: Vec<String>,
        /// Un département d'Occitanie : 09, 11, 12, 30, 31, 32, 34, 46, 48, 65, 66, 81, 82.
        #[arg(long = "departement", value_name = "CODE")]
        departements: Vec<String>,
        /// Un type de structure : collectivite, entreprise, association, recherche,
        /// etablissement-public.
        #[arg(long = "college", value_name = "KIND")]
        colleges: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Enregistre une structure membre ; affiche son numéro.
    Add {
        /// L'adresse de contact du membre.
        email: String,
        /// Le nom de la structure, tel qu'il figure sur ses annonces.
        #[arg(long, value_name = "NAME")]
        org: String,
        /// Son type : collectivite, entreprise, association, recherche, etablissement-public.
        #[arg(long, value_name = "KIND")]
        college: Option<String>,
        /// Son département d'Occitanie (09, 11, 12, 30, 31, 32, 34, 46, 48, 65, 66, 81, 82).
        #[arg(long, value_name = "CODE")]
        departement: Option<String>,
        /// La personne à contacter (elle se connecte à l'espace membre avec l'adresse).
        #[arg(long, value_name = "NAME", default_value = "")]
        contact: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Crée un compte de la rédaction ; le mot de passe (10 caractères au moins) est lu sur l'entrée standard.
    Add {
        /// L'adresse avec laquelle la personne se connecte.
        email: String,
        /// admin ou editor.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Crée un jeton pour un compte de la rédaction ou pour une personne d'un membre ; affiche le jeton seul, une seule fois.
    Create {
        /// L'adresse d'un compte de la rédaction (tous rôles) : le jeton modère et compose.
        #[arg(
            long,
            value_name = "EMAIL",
            conflicts_with = "member",
            required_unless_present = "member"
        )]
        editor: Option<String>,
        /// L'adresse d'une personne d'un membre : le jeton ne voit et ne change que les annonces de son organisation.
        #[arg(long, value_name = "EMAIL")]
        member: Option<String>,
        /// Un nom pour reconnaître le jeton dans la liste (par exemple le script qui s'en sert).
        #[arg(long, value_name = "TEXT", default_value = "")]
        label: String,
    },
    /// Les jetons, du plus récent au plus ancien, sans leur valeur.
    List,
    /// Révoque un jeton : il ne fonctionne plus, définitivement.
    Revoke {
        /// Le numéro du jeton (voir `token list`).
        id: i64,
    },
}

fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

pub async fn run(cli: Cli, app: App) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Migrate => {
            // Opening the app already applied them.
            eprintln!("migrations appliquées");
            Ok(())
        }
        Command::Serve => Arc::new(app).serve().await,
        Command::Backup { path } => {
            if path.exists() {
                bail!(
                    "{} existe déjà : choisissez un nouveau fichier",
                    path.display()
                );
            }
            app.store.backup(&path).await?;
            eprintln!("copie écrite : {}", path.display());
            Ok(())
        }
        Command::Fetch { sources } => fetch(&app, &sources, json).await,
        Command::Sources { action: None } => list_sources(&app, json).await,
        Command::Sources {
            action: Some(SourcesCommand::Check),
        } => check_sources(&app, json).await,
        Command::Items {
            action: Some(ItemsCommand::Retag),
            ..
        } => {
            let (read, changed) = app.watcher.retag().await?;
            if json {
                print_json(&serde_json::json!({ "read": read, "changed": changed }))?;
            } else {
                eprintln!("{read} élément(s) relu(s), {changed} dont les étiquettes ont changé");
            }
            Ok(())
        }
        Command::Items {
            action: None,
            source,
            status,
            limit,
        } => list_items(&app, source, status, limit, json).await,
        Command::Issue(cmd) => issue(&app, cmd, json).await,
        Command::Mail(MailCommand::Status) => mail_status(&app, json).await,
        Command::Schedule => list_schedule(&app, json).await,
        Command::Subscribers(SubscribersCommand::Import { file }) => {
            import_subscribers(&app, &file, json).await
        }
        Command::Subscribers(SubscribersCommand::Export) => export_subscribers(&app, json).await,
        Command::Segment(SegmentCommand::List) => {
            for segment in app.store.list_segments().await? {
                if json {
                    print_json(&segment)?;
                } else {
                    println!(
                        "{:<24} {:<16} {:>6} abonné(s)",
                        segment.slug, segment.newsletter, segment.subscribers
                    );
                }
            }
            Ok(())
        }
        Command::Segment(SegmentCommand::Add {
            slug,
            newsletter,
            themes,
            countries,
            departements,
            colleges,
        }) => {
            add_segment(
                &app,
                &slug,
                &newsletter,
                themes,
                countries,
                departements,
                colleges,
            )
            .await
        }
        Command::Member(MemberCommand::Add {
            email,
            org,
            college,
            departement,
            contact,
        }) => {
            let email = EmailAddress::parse(&email)
                .map_err(|e| anyhow::anyhow!("adresse refusée : {e}"))?;
            if let Some(c) = college.as_deref().filter(|c| !domain::COLLEGES.contains(c)) {
                bail!(
                    "collège inconnu « {c} » (possibles : {})",
                    domain::COLLEGES.join(", ")
                );
            }
            if let Some(d) = departement
                .as_deref()
                .filter(|d| !domain::DEPARTEMENTS.contains(d))
            {
                bail!("département inconnu « {d} »");
            }
            let id = app
                .store
                .add_member(
                    &NewMember {
                        email: email.as_str(),
                        org_name: org.trim(),
                        contact_name: contact.trim(),
                        college: college.as_deref(),
                        departement: departement.as_deref(),
                    },
                    "active",
                )
                .await
                .map_err(|e| match e {
                    crate::store::StoreError::Conflict(_) => {
                        anyhow::anyhow!("l'adresse {email} est déjà celle d'un membre")
                    }
                    e => e.into(),
                })?;
            println!("{id}");
            Ok(())
        }
        Command::User(UserCommand::Add { email, role }) => add_user(&app, &email, &role).await,
        Command::Token(TokenCommand::Create {
            editor,
            member,
            label,
        }) => tokens::create(&app, editor.as_deref(), member.as_deref(), &label).await,
        Command::Token(TokenCommand::List) => tokens::list(&app, json).await,
        Command::Token(TokenCommand::Revoke { id }) => tokens::revoke(&app, id).await,
        Command::Bounces(BouncesCommand::Ingest { path }) => {
            ingest_bounces(&app, &path, json).await
        }
    }
}

/// `relais bounces ingest PATH`: a line for each file that names no delivery or cannot be
/// read, then the counts.
async fn ingest_bounces(app: &App, path: &std::path::Path, json: bool) -> anyhow::Result<()> {
    use crate::bounces::Outcome;
    let summary = app
        .bounces()
        .path(path, |file, outcome| match outcome {
            Outcome::Unmatched { reason, .. } => {
                eprintln!("{} : sans correspondance ({reason})", file.display())
            }
            Outcome::Unreadable { error } => {
                eprintln!("{} : ignoré ({error})", file.display())
            }
            Outcome::Applied { .. } => {}
        })
        .await?;
    if json {
        print_json(&summary)?;
    } else {
        eprintln!("{}", summary.describe());
    }
    Ok(())
}

async fn fetch(app: &App, sources: &[String], json: bool) -> anyhow::Result<()> {
    let known = app.store.list_sources().await?;
    for slug in sources {
        if !known.iter().any(|s| &s.slug == slug) {
            bail!("source inconnue « {slug} »");
        }
    }
    let tty = std::io::stderr().is_terminal();
    if tty {
        eprintln!(
            "relève de {} source(s)…",
            if sources.is_empty() {
                known.iter().filter(|s| s.enabled).count()
            } else {
                sources.len()
            }
        );
    }
    let summary = app.watcher.poll_now(sources).await?;
    for f in &summary.failing {
        eprintln!("{} : {}", f.source, f.error.as_deref().unwrap_or(""));
    }
    if json {
        print_json(&summary)?;
    } else {
        eprintln!(
            "{} source(s) relevée(s), dont {} sans changement depuis la dernière fois : {} nouveau(x), {} mis à jour, {} inchangé(s), {} en échec",
            summary.polled,
            summary.unchanged_sources,
            summary.new,
            summary.updated,
            summary.unchanged,
            summary.failing.len()
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct SourceLine<'a> {
    slug: &'a str,
    name: &'a str,
    url: &'a str,
    configured_url: &'a str,
    enabled: bool,
    state: &'a str,
    last_fetched_at: Option<chrono::DateTime<chrono::Utc>>,
    last_success_at: Option<chrono::DateTime<chrono::Utc>>,
    last_error: Option<&'a str>,
    consecutive_failures: i64,
    next_poll_at: Option<chrono::DateTime<chrono::Utc>>,
    item_count: i64,
}

async fn list_sources(app: &App, json: bool) -> anyhow::Result<()> {
    let rows = app.store.list_sources().await?;
    let mut out = std::io::stdout().lock();
    for r in &rows {
        if json {
            serde_json::to_writer(
                &mut out,
                &SourceLine {
                    slug: &r.slug,
                    name: &r.name,
                    url: r.url_in_use(),
                    configured_url: &r.url,
                    enabled: r.enabled,
                    state: r.state.as_str(),
                    last_fetched_at: r.last_fetched_at,
                    last_success_at: r.last_success_at,
                    last_error: r.last_error.as_deref(),
                    consecutive_failures: r.consecutive_failures,
                    next_poll_at: r.next_poll_at,
                    item_count: r.item_count,
                },
            )?;
            writeln!(out)?;
        } else {
            let state = if r.enabled {
                r.state.label()
            } else {
                "retirée"
            };
            let last = r
                .last_fetched_at
                .map(|t| {
                    t.with_timezone(&app.config.timezone)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_else(|| "jamais".into());
            writeln!(
                out,
                "{:<32} {:<10} {:>5} éléments  dernière relève {}{}",
                r.slug,
                state,
                r.item_count,
                last,
                r.last_error
                    .as_deref()
                    .map(|e| format!("  ({e})"))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

async fn list_items(
    app: &App,
    source: Option<String>,
    status: Option<String>,
    limit: i64,
    json: bool,
) -> anyhow::Result<()> {
    if let Some(s) = status
        .as_deref()
        .filter(|s| domain::ItemStatus::parse(s).is_none())
    {
        bail!("statut inconnu « {s} » (new, selected, dismissed, published)");
    }
    let items = app
        .store
        .list_items(&ItemFilter {
            source,
            status,
            limit: limit.max(0),
        })
        .await?;
    let mut out = std::io::stdout().lock();
    for i in &items {
        if json {
            serde_json::to_writer(&mut out, i)?;
            writeln!(out)?;
        } else {
            let date = i
                .published_at
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| "—".into());
            writeln!(
                out,
                "{:>6}  {}  {:<10} {:<20} {}",
                i.id,
                date,
                i.status.label(),
                i.source,
                i.title
            )?;
        }
    }
    Ok(())
}

async fn issue(app: &App, cmd: IssueCommand, json: bool) -> anyhow::Result<()> {
    match cmd {
        IssueCommand::Create {
            newsletter,
            subject,
        } => {
            let today = chrono::Utc::now()
                .with_timezone(&app.config.timezone)
                .date_naive();
            let id = desk::create_issue(
                &app.store,
                &app.masthead.sections,
                &newsletter,
                subject.as_deref(),
                today,
            )
            .await?;
            println!("{id}");
        }
        IssueCommand::Add {
            issue,
            what,
            section,
        } => {
            let entry = match (what.item, what.ad) {
                (Some(id), _) => EntrySource::Item(id),
                (_, Some(id)) => EntrySource::Ad(id),
                _ => bail!("--item ou --ad"),
            };
            let desk::AddedEntry {
                id,
                section,
                position,
            } = desk::add_to_issue(
                &app.store,
                &app.masthead.sections,
                issue,
                entry,
                section.as_deref(),
            )
            .await?;
            // Say where it went: the section (by its heading) and the place in it.
            let row = app.store.issue(issue).await?;
            if json {
                print_json(&serde_json::json!({
                    "entry": id, "issue": issue, "section": section, "position": position
                }))?;
            } else {
                let heading = Newsletter::find(&row.newsletter)
                    .and_then(|n| app.masthead.sections.find(n, &section))
                    .map_or(section.as_str(), |s| s.heading);
                eprintln!(
                    "ajouté au numéro {issue}, rubrique « {heading} », en position {position}"
                );
            }
        }
        IssueCommand::Render { issue, format, to } => {
            render(app, issue, format, to.as_deref()).await?
        }
        IssueCommand::Send {
            issue,
            segment,
            wait,
        } => send(app, issue, segment.as_deref(), wait, json).await?,
        IssueCommand::Approve { issue, by } => {
            let row = app
                .store
                .issue(issue)
                .await
                .map_err(|e| not_found(e, &format!("numéro {issue} introuvable")))?;
            match by {
                Some(email) => {
                    let email = domain::EmailAddress::parse(&email)?;
                    let (user, _) = app
                        .store
                        .user_credentials(email.as_str())
                        .await?
                        .with_context(|| format!("aucun compte de la rédaction pour {email}"))?;
                    let required = app.config.approvals_required(&row.newsletter);
                    let approvals = app
                        .store
                        .approve_issue(issue, user, required)
                        .await
                        .map_err(|e| frozen(e, issue))?;
                    if approvals.len() >= required {
                        eprintln!("numéro {issue} validé");
                    } else {
                        eprintln!(
                            "validation enregistrée ({} sur {required}) : il faut encore celle d'une autre personne",
                            approvals.len()
                        );
                    }
                }
                None => {
                    anyhow::ensure!(
                        matches!(
                            row.status,
                            domain::IssueStatus::Draft | domain::IssueStatus::Approved
                        ),
                        "le numéro {issue} est déjà parti : il ne change plus"
                    );
                    app.store
                        .set_issue_status(issue, domain::IssueStatus::Approved)
                        .await?;
                    eprintln!("numéro {issue} validé");
                }
            }
        }
        IssueCommand::Schedule { issue, at, segment } => {
            let row = app
                .store
                .issue(issue)
                .await
                .map_err(|e| not_found(e, &format!("numéro {issue} introuvable")))?;
            let when = parse_local_time(&at, app.config.timezone)?;
            anyhow::ensure!(
                when > app.store.now(),
                "« {at} » est passé : choisissez un moment à venir"
            );
            if let Some(slug) = &segment {
                let (_, newsletter) = app
                    .store
                    .segment(slug)
                    .await
                    .map_err(|e| not_found(e, &format!("segment « {slug} » introuvable")))?;
                anyhow::ensure!(
                    newsletter == row.newsletter,
                    "le segment « {slug} » appartient à {newsletter}, pas à {}",
                    row.newsletter
                );
            }
            app.store
                .set_issue_schedule(issue, Some(when), segment.as_deref())
                .await
                .map_err(|e| not_found(e, &format!("le numéro {issue} est déjà parti")))?;
            let local = when.with_timezone(&app.config.timezone);
            match row.status {
                domain::IssueStatus::Approved => {
                    eprintln!("numéro {issue} programmé pour le {}", local.format("%Y-%m-%d %H:%M"))
                }
                _ => eprintln!(
                    "numéro {issue} programmé pour le {} : il ne partira que s'il est validé d'ici là",
                    local.format("%Y-%m-%d %H:%M")
                ),
            }
        }
        IssueCommand::Pause { issue } => {
            control::apply(app, issue, crate::dispatch::control::Control::Pause).await?
        }
        IssueCommand::Resume { issue } => {
            control::apply(app, issue, crate::dispatch::control::Control::Resume).await?
        }
        IssueCommand::Cancel { issue } => {
            control::apply(app, issue, crate::dispatch::control::Control::Cancel).await?
        }
        IssueCommand::Resend { issue, unknown } => {
            control::resend(app, issue, unknown, json).await?
        }
        IssueCommand::Status { issue } => {
            app.store
                .issue(issue)
                .await
                .map_err(|e| not_found(e, &format!("numéro {issue} introuvable")))?;
            let counts = app.store.delivery_counts(issue).await?;
            let dispatches = app.store.dispatch_controls(issue).await?;
            if json {
                let mut value = serde_json::to_value(&counts)?;
                value["dispatches"] = serde_json::to_value(&dispatches)?;
                print_json(&value)?;
            } else {
                println!(
                    "en file {} · en cours {} · envoyés {} · différés {} · échecs {} · incertains {} · écartés {}",
                    counts.queued, counts.sending, counts.sent, counts.deferred, counts.failed, counts.unknown, counts.skipped
                );
                control::print_states(&dispatches);
            }
        }
    }
    Ok(())
}

async fn check_sources(app: &App, json: bool) -> anyhow::Result<()> {
    let reports = app.watcher.check_all().await;
    let mut answering = 0;
    for r in &reports {
        answering += usize::from(r.error.is_none());
        if json {
            print_json(r)?;
            continue;
        }
        let state = if r.enabled { "" } else { " (désactivée)" };
        match (&r.error, r.entries, r.kept) {
            (Some(e), _, _) => println!("{}{state} : ÉCHEC — {e}", r.source),
            (None, Some(n), Some(k)) => println!(
                "{}{state} : flux lu, {n} entrée(s), dont {k} retenue(s) par ses mots-clés",
                r.source
            ),
            (None, Some(n), None) => println!("{}{state} : flux lu, {n} entrée(s)", r.source),
            (None, None, _) => println!("{}{state} : ?", r.source),
        }
        for note in &r.notes {
            println!("    {note}");
        }
    }
    if !json {
        eprintln!(
            "{answering} source(s) sur {} répondent par un flux",
            reports.len()
        );
    }
    Ok(())
}

/// A store error as the command says it: "not found" in French, anything else as it is.
/// A moment given on the command line: RFC 3339, or `YYYY-MM-DD HH:MM` in `zone`.
fn parse_local_time(
    raw: &str,
    zone: chrono_tz::Tz,
) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    use chrono::TimeZone;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw.trim()) {
        return Ok(t.to_utc());
    }
    let local =
        chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%d %H:%M").map_err(|_| {
            anyhow::anyhow!("heure illisible « {raw} » : RFC 3339 ou « AAAA-MM-JJ HH:MM »")
        })?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.to_utc())
        .ok_or_else(|| {
            anyhow::anyhow!("« {raw} » n'existe pas dans le fuseau {zone} (changement d'heure)")
        })
}

/// A change refused because the issue has started sending, in words.
fn frozen(e: crate::store::StoreError, issue: i64) -> anyhow::Error {
    match e {
        crate::store::StoreError::Conflict(_) => {
            anyhow::anyhow!("le numéro {issue} est déjà parti : il ne change plus")
        }
        other => other.into(),
    }
}

fn not_found(e: crate::store::StoreError, what: &str) -> anyhow::Error {
    match e {
        crate::store::StoreError::NotFound => anyhow::anyhow!("{what}"),
        other => other.into(),
    }
}

async fn list_schedule(app: &App, json: bool) -> anyhow::Result<()> {
    let lines = crate::schedule::listing(app, 200).await?;
    if app.config.schedules.is_empty() && !json {
        eprintln!("aucune programmation : ajoutez des tables [[schedule]] à relais.toml");
    }
    for line in lines {
        if json {
            print_json(&line)?;
            continue;
        }
        let title =
            domain::Newsletter::find(&line.newsletter).map_or(line.newsletter.as_str(), |n| n.name);
        let due = crate::schedule::local_time(line.due_at, app.config.timezone);
        match line.ran_at {
            None => println!("{title} · {} · prévu le {due}", line.kind.label()),
            Some(_) => println!(
                "{title} · {} · {due} · {}{}",
                line.kind.label(),
                line.outcome.label(),
                if line.detail.is_empty() {
                    String::new()
                } else {
                    format!(" : {}", line.detail)
                }
            ),
        }
    }
    Ok(())
}

async fn mail_status(app: &App, json: bool) -> anyhow::Result<()> {
    let counts = app.store.mail_counts().await?;
    let problems = app.store.mail_problems(20).await?;
    if json {
        for (kind, counts) in &counts {
            print_json(&serde_json::json!({ "kind": kind.as_str(), "counts": counts }))?;
        }
        for problem in &problems {
            print_json(&serde_json::json!({ "problem": problem }))?;
        }
        return Ok(());
    }
    for (kind, c) in &counts {
        let label = match kind {
            domain::MailKind::Confirmation => "confirmations",
            domain::MailKind::Test => "essais de numéros",
            domain::MailKind::MemberLink => "liens de connexion des membres",
            domain::MailKind::AdRejected => "annonces refusées",
            domain::MailKind::AdExpiring => "annonces bientôt échues",
            domain::MailKind::ScheduleNotice => "avis de la programmation",
            domain::MailKind::DispatchPaused => "avis d'envoi suspendu",
        };
        println!(
            "{label} : en file {} · en cours {} · envoyés {} · différés {} · échecs {} · incertains {} · écartés {}",
            c.queued, c.sending, c.sent, c.deferred, c.failed, c.unknown, c.skipped
        );
    }
    if !problems.is_empty() {
        println!("derniers incidents :");
        for p in &problems {
            println!(
                "  {} {} n°{} ({} tentative(s)) : {} — {}",
                p.updated_at
                    .with_timezone(&app.config.timezone)
                    .format("%Y-%m-%d %H:%M"),
                p.kind,
                p.id,
                p.attempts,
                p.state,
                p.last_reply.as_deref().unwrap_or("")
            );
        }
    }
    Ok(())
}

async fn render(app: &App, issue_id: i64, format: Format, to: Option<&str>) -> anyhow::Result<()> {
    let issue = app
        .store
        .issue(issue_id)
        .await
        .map_err(|e| not_found(e, &format!("numéro {issue_id} introuvable")))?;
    let view = desk::view_of(&app.store, &app.links, &issue, &app.masthead).await?;
    let newsletter = Newsletter::find(&issue.newsletter).context("unknown newsletter")?;
    let newsletter_id = app.store.newsletter_id(newsletter.slug).await?;
    // A subscriber gets their own links; any other address gets working preview links.
    let recipient = match to {
        Some(raw) => {
            let email =
                EmailAddress::parse(raw).map_err(|e| anyhow::anyhow!("adresse refusée : {e}"))?;
            app.store
                .subscriber_by_email(email.as_str())
                .await?
                .map(|(id, name, key)| (id, name, email.to_string(), key.unwrap_or_default()))
                .map(Ok)
                .unwrap_or_else(|| {
                    Ok::<_, anyhow::Error>((0, String::new(), email.to_string(), String::new()))
                })?
        }
        None => (0, String::new(), String::new(), String::new()),
    };
    // A subscriber's copy leaves out what falls outside their interests, as sending would.
    let view = if recipient.0 > 0 {
        view.for_interests(&app.store.subscriber_interests(recipient.0).await?)
    } else {
        view
    };
    let rendered = app.renderer.render_issue(&view)?;
    let (unsubscribe_url, preferences_url) = if recipient.0 > 0 {
        (
            app.links.unsubscribe(&recipient.3, newsletter_id),
            app.links.preferences(&recipient.3),
        )
    } else if to.is_some() {
        // A preview for someone who is not a subscriber: links that work, to the home page.
        (app.links.page("/"), app.links.page("/"))
    } else {
        // No reader named: the personal links say that they are each reader's own.
        (
            app.links
                .page("/desinscription/LIEN-PERSONNEL-DE-CHAQUE-ABONNE"),
            app.links
                .page("/preferences/LIEN-PERSONNEL-DE-CHAQUE-ABONNE"),
        )
    };
    let (html, text) = rendered.personalise(&Recipient {
        name: &recipient.1,
        unsubscribe_url: &unsubscribe_url,
        preferences_url: &preferences_url,
    });
    let mut out = std::io::stdout().lock();
    match format {
        Format::Html => out.write_all(html.as_bytes())?,
        Format::Text => out.write_all(text.as_bytes())?,
        Format::Mjml => out.write_all(rendered.mjml.as_bytes())?,
        Format::Eml => {
            let to = if recipient.2.is_empty() {
                bail!("--format eml demande --to EMAIL")
            } else {
                recipient.2.clone()
            };
            let message_id = app.dispatcher.preview_message_id(issue_id);
            let bytes = app.dispatcher.compose(
                &to,
                &rendered.subject,
                &message_id,
                newsletter,
                &unsubscribe_url,
                html,
                text,
            )?;
            out.write_all(&bytes)?;
        }
    }
    Ok(())
}

async fn send(
    app: &App,
    issue_id: i64,
    segment: Option<&str>,
    wait: bool,
    json: bool,
) -> anyhow::Result<()> {
    let (dispatch, added) = app.dispatcher.queue(issue_id, segment).await?;
    if !wait {
        let counts = app.store.delivery_counts(issue_id).await?;
        if json {
            print_json(
                &serde_json::json!({ "dispatch": dispatch.id, "added": added, "counts": counts }),
            )?;
        } else {
            eprintln!("envoi {} en file : {} destinataire(s) ajouté(s), {} au total ; le démon s'en charge", dispatch.id, added, counts.total());
        }
        return Ok(());
    }
    let recovered = app.dispatcher.recover_abandoned().await?;
    if recovered > 0 {
        eprintln!(
            "{recovered} remise(s) interrompue(s) par un arrêt précédent marquée(s) incertaine(s)"
        );
    }
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_signal.cancel();
        }
    });
    let progress = control::Progress::start(app, issue_id, dispatch.id);
    let delivered = app.dispatcher.deliver_due(Some(dispatch.id), &cancel).await;
    progress.finish().await;
    delivered?;
    app.dispatcher.finish_if_done(&dispatch).await?;
    let counts = app.store.delivery_counts(issue_id).await?;
    let next = app.store.next_attempt(dispatch.id).await?;
    if json {
        print_json(
            &serde_json::json!({ "dispatch": dispatch.id, "added": added, "counts": counts, "next_attempt_at": next }),
        )?;
    } else {
        eprintln!(
            "envoi {} : {} envoyé(s), {} différé(s), {} échec(s), {} incertain(s), {} écarté(s) sur {}",
            dispatch.id, counts.sent, counts.deferred, counts.failed, counts.unknown, counts.skipped, counts.total()
        );
        for line in control::state_lines(&app.store.dispatch_controls(issue_id).await?) {
            eprintln!("{line}");
        }
        if let Some(next) = next {
            eprintln!(
                "prochaine tentative : {}",
                next.with_timezone(&app.config.timezone)
                    .format("%Y-%m-%d %H:%M")
            );
        }
    }
    Ok(())
}

async fn import_subscribers(app: &App, file: &PathBuf, json: bool) -> anyhow::Result<()> {
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .with_context(|| format!("{} illisible", file.display()))?;
    let mut lines = import::parse_lines(reader).with_context(|| format!("{}", file.display()))?;
    let mut tally = ImportTally::default();
    // One transaction per batch: fast, memory bounded, and a failure leaves whole batches in
    // or out. Rejected lines wait for their batch so that the report stays in line order.
    let mut batch = Vec::with_capacity(IMPORT_BATCH);
    let mut rejected = Vec::new();
    loop {
        let done = match lines.next() {
            Some(Ok(row)) => {
                batch.push(row);
                false
            }
            Some(Err(r)) => {
                rejected.push(r);
                false
            }
            None => true,
        };
        if done || batch.len() + rejected.len() >= IMPORT_BATCH {
            tally
                .import_batch(app, std::mem::take(&mut batch), &mut rejected, json)
                .await?;
        }
        if done {
            break;
        }
    }
    if tally.added + tally.updated > 0 {
        app.store.analyze_audience().await?;
    }
    if let Some(e) = lines.failure() {
        return Err(anyhow::Error::new(e).context(format!(
            "{} illisible après {} ligne(s) enregistrée(s)",
            file.display(),
            tally.added + tally.updated + tally.unchanged
        )));
    }
    if json {
        print_json(&serde_json::json!({
            "added": tally.added, "updated": tally.updated,
            "unchanged": tally.unchanged, "rejected": tally.rejected,
        }))?;
    } else {
        println!(
            "{} ajouté(s), {} mis à jour, {} inchangé(s), {} rejeté(s)",
            tally.added, tally.updated, tally.unchanged, tally.rejected
        );
    }
    Ok(())
}

const IMPORT_BATCH: usize = 1000;

#[derive(Default)]
struct ImportTally {
    added: u64,
    updated: u64,
    unchanged: u64,
    rejected: u64,
}

impl ImportTally {
    /// Imports one batch, then reports its rejected lines (those the parser refused and those
    /// the store did) in line order.
    async fn import_batch(
        &mut self,
        app: &App,
        batch: Vec<import::Row>,
        rejected: &mut Vec<import::Rejected>,
        json: bool,
    ) -> anyhow::Result<()> {
        let people: Vec<_> = batch.iter().map(|r| r.subscriber.clone()).collect();
        let outcomes = if people.is_empty() {
            Vec::new()
        } else {
            app.store
                .import_subscribers(&people)
                .await
                .with_context(|| {
                    format!(
                        "import arrêté aux lignes {} à {} ; {} ligne(s) déjà enregistrée(s)",
                        batch.first().map_or(0, |r| r.line),
                        batch.last().map_or(0, |r| r.line),
                        self.added + self.updated + self.unchanged
                    )
                })?
        };
        for (row, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                ImportOutcome::Added => self.added += 1,
                ImportOutcome::Updated => self.updated += 1,
                ImportOutcome::Unchanged => self.unchanged += 1,
                ImportOutcome::Suppressed => rejected.push(import::Rejected {
                    line: row.line,
                    reason:
                        "adresse désabonnée définitivement, effacée ou en erreur : non réimportée"
                            .into(),
                }),
            }
        }
        rejected.sort_by_key(|r| r.line);
        for r in rejected.drain(..) {
            self.rejected += 1;
            if json {
                print_json(&serde_json::json!({ "line": r.line, "reason": r.reason }))?;
            } else {
                println!("ligne {} : {}", r.line, r.reason);
            }
        }
        Ok(())
    }
}

async fn export_subscribers(app: &App, json: bool) -> anyhow::Result<()> {
    let all = app.store.export_subscribers(None).await?;
    if json {
        for s in &all {
            print_json(s)?;
        }
        return Ok(());
    }
    let mut csv = csv::Writer::from_writer(std::io::stdout().lock());
    csv.write_record([
        "email",
        "name",
        "status",
        "newsletters",
        "themes",
        "countries",
        "departements",
        "college",
        "created_at",
        "consents",
    ])?;
    for s in &all {
        csv.write_record([
            s.email.as_str(),
            &s.name,
            s.status.as_str(),
            &s.newsletters.join(";"),
            &s.themes.join(";"),
            &s.countries.join(";"),
            &s.departements.join(";"),
            s.college.as_deref().unwrap_or(""),
            &s.created_at.to_rfc3339(),
            &serde_json::to_string(&s.consents)?,
        ])?;
    }
    csv.flush()?;
    Ok(())
}

async fn add_segment(
    app: &App,
    slug: &str,
    newsletter: &str,
    themes: Vec<String>,
    countries: Vec<String>,
    departements: Vec<String>,
    colleges: Vec<String>,
) -> anyhow::Result<()> {
    let filters =
        crate::audience::segment_filters(slug, &themes, &countries, &departements, &colleges)
            .map_err(anyhow::Error::msg)?;
    let n = Newsletter::find(newsletter)
        .with_context(|| format!("lettre inconnue « {newsletter} »"))?;
    match app.store.add_segment(slug, n.slug, &filters).await {
        Ok(id) => {
            println!("{id}");
            let count = app
                .store
                .list_segments()
                .await?
                .into_iter()
                .find(|g| g.slug == slug)
                .map_or(0, |g| g.subscribers);
            eprintln!("segment « {slug} » : {count} abonné(s) aujourd'hui");
            Ok(())
        }
        Err(crate::store::StoreError::Conflict(_)) => bail!("le segment « {slug} » existe déjà"),
        Err(e) => Err(e.into()),
    }
}

async fn add_user(app: &App, email: &str, role: &str) -> anyhow::Result<()> {
    let email = EmailAddress::parse(email).map_err(|e| anyhow::anyhow!("adresse refusée : {e}"))?;
    if role != "admin" && role != "editor" {
        bail!("rôle inconnu « {role} » (admin ou editor)");
    }
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("mot de passe illisible sur l'entrée standard")?;
    let password = password.trim_end_matches(['\r', '\n']);
    let hash = crate::desk::staff::hash_password(password)?;
    match app.store.add_user(email.as_str(), &hash, role).await {
        Ok(id) => {
            println!("{id}");
            Ok(())
        }
        Err(crate::store::StoreError::Conflict(_)) => bail!("un compte existe déjà pour {email}"),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn help_pages_are_in_french_down_to_the_usage_line() {
        let mut cmd = french(Cli::command());
        let top = cmd.render_help().to_string();
        assert!(
            top.contains("Utilisation : relais") && top.contains("Commandes:"),
            "{top}"
        );
        let issue = cmd.find_subcommand_mut("issue").unwrap();
        let schedule = issue
            .find_subcommand_mut("schedule")
            .unwrap()
            .render_help()
            .to_string();
        assert!(
            schedule.contains("Utilisation :") && !schedule.contains("Usage:"),
            "{schedule}"
        );
    }

    /// Every command, argument and option says what it is for (`relais … --help`).
    #[test]
    fn every_argument_has_a_help_line() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && !path.is_empty() {
                missing.push(here.clone());
            }
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() {
                    missing.push(format!("{here} <{}>", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no help line: {missing:#?}");
    }
}
