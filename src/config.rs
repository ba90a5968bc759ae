//! Configuration: `relais.toml` and `RELAIS_*` variables, then `sources.toml`.
//! Raw values are read once in `main`, validated into these types and passed down; nothing else
//! reads the environment. Every error names the file (or variable), the key and what is wrong.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::domain::{self, parse_duration, parse_duration_list, Newsletter};

#[derive(Debug, thiserror::Error)]
#[error("{origin}: `{key}`: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub key: String,
    pub message: String,
}

impl ConfigError {
    fn new(origin: &str, key: &str, message: impl Into<String>) -> Self {
        Self {
            origin: origin.into(),
            key: key.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: String,
    /// The feed list the operator named; `None`: `sources.toml` in the working folder if
    /// there is one, else the list built into relais.
    pub sources_path: Option<PathBuf>,
    pub smtp: Option<SmtpSettings>,
    pub outbox_dir: PathBuf,
    pub listen: SocketAddr,
    pub base_url: Url,
    pub secret: Option<String>,
    pub data_dir: PathBuf,
    /// The operator's templates folder, whose files override the built-in ones; `None`:
    /// `templates` in the working folder if there is one.
    pub templates_dir: Option<PathBuf>,
    pub dkim: Option<DkimSettings>,
    pub smtp_connections: usize,
    pub smtp_timeout: Duration,
    pub retry_schedule: Vec<Duration>,
    pub give_up_after: Duration,
    pub from: String,
    pub transactional_from: String,
    pub organisation: String,
    pub postal_address: String,
    pub timezone: chrono_tz::Tz,
    pub fetch_concurrency: usize,
    pub fetch_max_body: usize,
    /// Proxy for feed requests; the environment's `HTTP_PROXY` and the like are never used.
    pub fetch_proxy: Option<Url>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub scheduler_tick: Duration,
    pub consent_ip_retention: Duration,
    pub list_unsubscribe_mailto: Option<String>,
    /// Where people write about their data (the privacy notice); default: the sender of the
    /// newsletters.
    pub privacy_contact: Option<String>,
    pub sections: crate::domain::Sections,
    /// Titles whose issues need two different editors' approvals before they may be sent.
    pub two_approvals: Vec<&'static str>,
    /// A run (or a send planned at the desk) later than this is not made, only recorded.
    pub schedule_lateness: Duration,
    /// On SIGTERM or SIGINT, how long the SMTP transactions in flight may take to finish.
    pub shutdown_grace: Duration,
    /// Each title's draft, reminder and send times.
    pub schedules: Vec<crate::domain::schedule::TitleSchedule>,
    /// The domain of VERP return paths (`b-<delivery>-<tag>@domain`); `None`: newsletters
    /// leave with the sender's address as their envelope sender.
    pub bounce_domain: Option<String>,
    /// A maildir of bounce and complaint reports that the daemon reads every tick.
    pub bounce_maildir: Option<PathBuf>,
    /// Soft bounces of a person (on different deliveries) after which the address is
    /// suppressed.
    pub soft_bounce_limit: usize,
    /// Global rates and the per-domain limit of the sender workers.
    pub pacing: crate::dispatch::pacing::PacingSettings,
    /// When policy refusals (5.7.x) pause a dispatch.
    pub breaker: crate::dispatch::breaker::BreakerSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmtpTls {
    None,
    StartTls,
    Wrapper,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, String)>,
    /// Roots trusted besides the built-in ones (`smtp_ca_file`): an internal relay's CA.
    pub extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

#[derive(Debug, Clone)]
pub struct DkimSettings {
    pub key_path: PathBuf,
    pub selector: String,
    pub domain: String,
}

/// Declares the settings once: each key of `relais.toml` (also `RELAIS_<KEY>` in the
/// environment) with how the file may write it (`text`, or `number`: a TOML number or a
/// string). From this one list come the file's type, the list of known keys and the
/// file's values as text, which `Config::validate` reads with the environment on top.
macro_rules! settings {
    ($($key:ident: $kind:ident),* $(,)?) => {
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct RawConfig {
            $($key: Option<settings!(@type $kind)>,)*
            /// `[[section]]` tables: a title's sections in reading order (file only).
            #[serde(default)]
            section: Vec<RawSection>,
            /// `[[schedule]]` tables: a title's draft, reminder and send times (file only).
            #[serde(default)]
            schedule: Vec<RawSchedule>,
        }

        const KEYS: &[&str] = &[$(stringify!($key)),*];

        fn raw_values(raw: RawConfig) -> BTreeMap<String, String> {
            let mut values = BTreeMap::new();
            $(
                if let Some(v) = raw.$key {
                    values.insert(stringify!($key).to_string(), settings!(@text $kind v));
                }
            )*
            values
        }
    };
    (@type text) => { String };
    (@type number) => { toml::Value };
    (@text text $v:ident) => { $v };
    (@text number $v:ident) => {
        match $v {
            toml::Value::String(s) => s,
            other => other.to_string(),
        }
    };
}

settings! {
    database_url: text,
    sources: text,
    smtp_url: text,
    smtp_ca_file: text,
    outbox_dir: text,
    listen: text,
    base_url: text,
    secret: text,
    data_dir: text,
    templates_dir: text,
    dkim_key: text,
    dkim_selector: text,
    dkim_domain: text,
    smtp_connections: number,
    smtp_timeout: text,
    retry_schedule: text,
    give_up_after: text,
    from: text,
    transactional_from: text,
    organisation: text,
    postal_address: text,
    timezone: text,
    fetch_concurrency: number,
    fetch_max_body: number,
    fetch_proxy: text,
    trusted_proxies: text,
    scheduler_tick: text,
    consent_ip_retention: text,
    list_unsubscribe_mailto: text,
    privacy_contact: text,
    two_approvals: text,
    schedule_lateness: text,
    bounce_domain: text,
    bounce_maildir: text,
    soft_bounce_limit: number,
    send_rate: number,
    send_hourly_limit: number,
    per_domain_connections: number,
    breaker_refusals: number,
    breaker_window: text,
    breaker_percent: number,
    shutdown_grace: text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    newsletter: String,
    draft: String,
    send: String,
    remind: Option<String>,
    min_entries: Option<usize>,
    auto_send: Option<bool>,
    segment: Option<String>,
    editors: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    newsletter: String,
    key: String,
    heading: String,
}

/// The shortest signing key accepted, in bytes, however it is given (variable, file key, or
/// the `data/secret` file): tokens and sessions are only as strong as it.
pub const MIN_SECRET_BYTES: usize = 32;

/// A configured signing key: at least [`MIN_SECRET_BYTES`] bytes, not one byte repeated.
pub fn validate_secret(secret: &str) -> Result<String, String> {
    let len = secret.len();
    if len < MIN_SECRET_BYTES {
        return Err(format!(
            "clé trop courte ({len} octet(s)) : il en faut au moins {MIN_SECRET_BYTES}, \
             par exemple la sortie de `openssl rand -hex 32`"
        ));
    }
    if secret.bytes().all(|b| b == secret.as_bytes()[0]) {
        return Err(
            "clé faite d'un seul caractère répété : donnez une valeur aléatoire, \
             par exemple la sortie de `openssl rand -hex 32`"
                .into(),
        );
    }
    Ok(secret.to_string())
}

/// Where one value came from, so errors point at the right place.
struct Value {
    text: String,
    origin: String,
}

impl Config {
    /// Reads the configuration file (explicit path, `RELAIS_CONFIG`, or `relais.toml` if it
    /// exists) and the environment, and validates the result.
    pub fn load(
        explicit: Option<&Path>,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let path = explicit
            .map(Path::to_path_buf)
            .or_else(|| env.get("RELAIS_CONFIG").map(PathBuf::from))
            .or_else(|| Some(PathBuf::from("relais.toml")).filter(|p| p.exists()));
        let (raw, file_name) = match &path {
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError::new(&name, "(file)", format!("cannot read: {e}")))?;
                let raw: RawConfig = toml::from_str(&text)
                    .map_err(|e| ConfigError::new(&name, &key_of_toml_error(&e), e.message()))?;
                (raw, name)
            }
            None => (RawConfig::default(), "relais.toml".to_string()),
        };
        Self::validate(raw, &file_name, env)
    }

    fn validate(
        mut raw: RawConfig,
        file: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let sections = validate_sections(std::mem::take(&mut raw.section), file)?;
        let schedules = validate_schedules(std::mem::take(&mut raw.schedule), file)?;
        let file_values = raw_values(raw);
        let value = |key: &str| -> Option<Value> {
            let var = format!("RELAIS_{}", key.to_ascii_uppercase());
            if let Some(text) = env.get(&var).filter(|v| !v.is_empty()) {
                return Some(Value {
                    text: text.clone(),
                    origin: var,
                });
            }
            file_values.get(key).map(|text| Value {
                text: text.clone(),
                origin: file.to_string(),
            })
        };
        let text_or = |key: &str, default: &str| -> String {
            value(key)
                .map(|v| v.text)
                .unwrap_or_else(|| default.to_string())
        };
        let fail = |v: &Value, key: &str, msg: String| ConfigError::new(&v.origin, key, msg);

        let data_dir = PathBuf::from(text_or("data_dir", "data"));
        let database_url = match value("database_url") {
            Some(v)
                if v.text.starts_with("sqlite:")
                    || v.text.starts_with("postgres://")
                    || v.text.starts_with("postgresql://") =>
            {
                v.text
            }
            Some(v) => {
                return Err(fail(
                    &v,
                    "database_url",
                    "expected sqlite://PATH or postgres://… "
                        .trim_end()
                        .to_string(),
                ))
            }
            None => format!("sqlite://{}", data_dir.join("relais.db").display()),
        };

        let mut smtp = match value("smtp_url") {
            Some(v) => Some(parse_smtp_url(&v.text).map_err(|m| fail(&v, "smtp_url", m))?),
            None => None,
        };
        if let Some(v) = value("smtp_ca_file") {
            let roots = match &mut smtp {
                Some(s) if s.tls != SmtpTls::None => &mut s.extra_roots,
                _ => {
                    return Err(fail(
                        &v,
                        "smtp_ca_file",
                        "ne sert qu'avec un relais en TLS : smtp_url en smtps://… ou \
                         smtp://…?tls=required"
                            .into(),
                    ))
                }
            };
            *roots = read_roots(Path::new(&v.text)).map_err(|m| fail(&v, "smtp_ca_file", m))?;
        }

        let listen = match value("listen") {
            Some(v) => v.text.parse().map_err(|_| {
                fail(
                    &v,
                    "listen",
                    format!("`{}` is not an address such as 127.0.0.1:8080", v.text),
                )
            })?,
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
        };

        let base_url = match value("base_url") {
            Some(v) => {
                let url = Url::parse(&v.text)
                    .map_err(|e| fail(&v, "base_url", format!("not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(fail(&v, "base_url", "expected an http or https URL".into()));
                }
                url
            }
            None => Url::parse("http://127.0.0.1:8080").expect("valid default"),
        };

        let dkim = match (
            value("dkim_key"),
            value("dkim_selector"),
            value("dkim_domain"),
        ) {
            (None, None, None) => None,
            (Some(key), Some(selector), Some(domain)) => {
                let key_path = PathBuf::from(&key.text);
                if !key_path.is_file() {
                    return Err(fail(&key, "dkim_key", format!("no file at {}", key.text)));
                }
                Some(DkimSettings {
                    key_path,
                    selector: selector.text,
                    domain: domain.text,
                })
            }
            (key, selector, domain) => {
                let given = key.or(selector).or(domain).expect("one is set");
                return Err(fail(
                    &given,
                    "dkim_key",
                    "dkim_key, dkim_selector and dkim_domain go together".into(),
                ));
            }
        };

        let positive = |key: &str, default: usize, max: usize| -> Result<usize, ConfigError> {
            match value(key) {
                Some(v) => match v.text.parse::<usize>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(fail(
                        &v,
                        key,
                        format!("expected a whole number from 1 to {max}"),
                    )),
                },
                None => Ok(default),
            }
        };
        let duration = |key: &str, default: &str| -> Result<Duration, ConfigError> {
            let v = value(key).unwrap_or(Value {
                text: default.into(),
                origin: file.into(),
            });
            parse_duration(&v.text).map_err(|m| fail(&v, key, m))
        };

        let retry_schedule = {
            let v = value("retry_schedule").unwrap_or(Value {
                text: "30s,5m,15m,30m,1h".into(),
                origin: file.into(),
            });
            parse_duration_list(&v.text).map_err(|m| fail(&v, "retry_schedule", m))?
        };

        let timezone = {
            let v = value("timezone").unwrap_or(Value {
                text: "Europe/Paris".into(),
                origin: file.into(),
            });
            v.text
                .parse::<chrono_tz::Tz>()
                .map_err(|_| fail(&v, "timezone", format!("unknown time zone `{}`", v.text)))?
        };

        let mailbox = |key: &str, default: &str| -> Result<String, ConfigError> {
            let v = value(key).unwrap_or(Value {
                text: default.into(),
                origin: file.into(),
            });
            crate::dispatch::message::parse_mailbox(&v.text).map_err(|e| {
                fail(
                    &v,
                    key,
                    format!("not a mailbox such as \"Nom <a@b.fr>\": {e}"),
                )
            })?;
            Ok(v.text)
        };

        let optional = |key: &str, max: usize| -> Result<Option<usize>, ConfigError> {
            value(key).map(|_| positive(key, 1, max)).transpose()
        };
        let pacing = crate::dispatch::pacing::PacingSettings {
            rate: match value("send_rate") {
                Some(v) => Some(
                    v.text
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|r| *r >= 0.001 && *r <= 100_000.0)
                        .ok_or_else(|| {
                            fail(
                                &v,
                                "send_rate",
                                "expected messages per second, a number from 0.001 to 100000 \
                                 (0.5: one message every two seconds)"
                                    .into(),
                            )
                        })?,
                ),
                None => None,
            },
            hourly: optional("send_hourly_limit", 10_000_000)?.map(|n| n as u32),
            per_domain: optional("per_domain_connections", 1024)?,
        };
        let breaker = crate::dispatch::breaker::BreakerSettings {
            refusals: match value("breaker_refusals") {
                Some(v) if v.text.trim() == "0" => 0,
                Some(_) => positive("breaker_refusals", 20, 1_000_000)?,
                None => 20,
            },
            window: duration("breaker_window", "5m")?,
            percent: positive("breaker_percent", 5, 100)? as u32,
        };

        Ok(Config {
            pacing,
            breaker,
            database_url,
            sources_path: value("sources").map(|v| PathBuf::from(v.text)),
            smtp,
            outbox_dir: value("outbox_dir")
                .map(|v| PathBuf::from(v.text))
                .unwrap_or_else(|| data_dir.join("outbox")),
            listen,
            base_url,
            secret: match value("secret") {
                Some(v) => Some(validate_secret(&v.text).map_err(|m| fail(&v, "secret", m))?),
                None => None,
            },
            templates_dir: value("templates_dir").map(|v| PathBuf::from(v.text)),
            data_dir,
            dkim,
            smtp_connections: positive("smtp_connections", 4, 64)?,
            smtp_timeout: duration("smtp_timeout", "10m")?,
            retry_schedule,
            give_up_after: duration("give_up_after", "3d")?,
            from: mailbox(
                "from",
                "Occitanie Coopération <lettres@occitanie-cooperation.fr>",
            )?,
            transactional_from: mailbox(
                "transactional_from",
                "Occitanie Coopération <ne-pas-repondre@occitanie-cooperation.fr>",
            )?,
            organisation: text_or("organisation", "Occitanie Coopération"),
            postal_address: text_or("postal_address", "15 rue Rivals, 31000 Toulouse, France"),
            timezone,
            fetch_concurrency: positive("fetch_concurrency", 16, 256)?,
            fetch_max_body: positive("fetch_max_body", 15 * 1024 * 1024, usize::MAX)?,
            fetch_proxy: match value("fetch_proxy") {
                Some(v) => Some(parse_proxy_url(&v.text).map_err(|m| fail(&v, "fetch_proxy", m))?),
                None => None,
            },
            trusted_proxies: match value("trusted_proxies") {
                Some(v) => parse_networks(&v.text).map_err(|m| fail(&v, "trusted_proxies", m))?,
                None => Vec::new(),
            },
            scheduler_tick: duration("scheduler_tick", "15s")?,
            consent_ip_retention: duration("consent_ip_retention", "395d")?,
            privacy_contact: match value("privacy_contact") {
                Some(v) => Some(
                    crate::domain::EmailAddress::parse(&v.text)
                        .map_err(|e| fail(&v, "privacy_contact", e.to_string()))?
                        .to_string(),
                ),
                None => None,
            },
            list_unsubscribe_mailto: match value("list_unsubscribe_mailto") {
                Some(v) => Some(
                    crate::domain::EmailAddress::parse(&v.text)
                        .map_err(|e| fail(&v, "list_unsubscribe_mailto", e.to_string()))?
                        .to_string(),
                ),
                None => None,
            },
            two_approvals: match value("two_approvals") {
                Some(v) => parse_titles(&v.text).map_err(|m| fail(&v, "two_approvals", m))?,
                None => Vec::new(),
            },
            schedule_lateness: duration("schedule_lateness", "6h")?,
            shutdown_grace: duration("shutdown_grace", "30s")?,
            schedules,
            bounce_domain: match value("bounce_domain") {
                Some(v) => Some(parse_domain(&v.text).map_err(|m| fail(&v, "bounce_domain", m))?),
                None => None,
            },
            bounce_maildir: value("bounce_maildir").map(|v| PathBuf::from(v.text)),
            soft_bounce_limit: positive("soft_bounce_limit", 3, 100)?,
            sections,
        })
    }

    /// How many editors must approve an issue of `newsletter`.
    pub fn approvals_required(&self, newsletter: &str) -> usize {
        if self.two_approvals.contains(&newsletter) {
            2
        } else {
            1
        }
    }

    /// Domain used in Message-IDs and List-Ids: the domain of the From address.
    pub fn mail_domain(&self) -> String {
        self.from
            .rsplit_once('@')
            .map(|(_, d)| d.trim_end_matches('>').trim().to_string())
            .unwrap_or_else(|| "localhost".into())
    }
}

/// `[[section]]` tables grouped by title, in file order. Keys are slugs, unique per title.
/// Configuration is read once per process, so leaking the few strings is bounded.
/// A comma-separated list of titles (slugs).
fn parse_titles(raw: &str) -> Result<Vec<&'static str>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            crate::domain::Newsletter::find(s)
                .map(|n| n.slug)
                .ok_or_else(|| format!("lettre inconnue « {s} » (coopdev-info ou echos-du-reseau)"))
        })
        .collect()
}

fn validate_sections(
    raw: Vec<RawSection>,
    file: &str,
) -> Result<crate::domain::Sections, ConfigError> {
    use crate::domain::{Newsletter, Section, Sections};
    let mut grouped: Vec<(&'static Newsletter, Vec<Section>)> = Vec::new();
    for r in raw {
        let fail = |m: String| ConfigError::new(file, "section", m);
        let n = Newsletter::find(&r.newsletter).ok_or_else(|| {
            fail(format!(
                "unknown newsletter `{}` (coopdev-info or echos-du-reseau)",
                r.newsletter
            ))
        })?;
        let is_slug = !r.key.is_empty()
            && r.key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !is_slug {
            return Err(fail(format!(
                "key `{}` must be lowercase letters, digits and hyphens",
                r.key
            )));
        }
        if r.heading.trim().is_empty() {
            return Err(fail(format!("section `{}` has an empty heading", r.key)));
        }
        let index = match grouped.iter().position(|(g, _)| g.slug == n.slug) {
            Some(i) => i,
            None => {
                grouped.push((n, Vec::new()));
                grouped.len() - 1
            }
        };
        let list = &mut grouped[index].1;
        if list.iter().any(|s| s.key == r.key) {
            return Err(fail(format!(
                "section `{}` appears twice for {}",
                r.key, n.slug
            )));
        }
        list.push(Section {
            key: Box::leak(r.key.into_boxed_str()),
            heading: Box::leak(r.heading.trim().to_string().into_boxed_str()),
        });
    }
    let mut sections = Sections::default();
    for (n, list) in grouped {
        sections.set(n.slug, list);
    }
    Ok(sections)
}

/// `[[schedule]]` tables, one per title at most; errors name the table and the key.
fn validate_schedules(
    raw: Vec<RawSchedule>,
    file: &str,
) -> Result<Vec<crate::domain::schedule::TitleSchedule>, ConfigError> {
    use crate::domain::schedule::{Cron, TitleSchedule};
    let mut schedules: Vec<TitleSchedule> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let fail =
            |key: &str, m: String| ConfigError::new(file, &format!("schedule[{}].{key}", i + 1), m);
        let n = Newsletter::find(&r.newsletter).ok_or_else(|| {
            fail(
                "newsletter",
                format!(
                    "lettre inconnue « {} » (coopdev-info ou echos-du-reseau)",
                    r.newsletter
                ),
            )
        })?;
        if schedules.iter().any(|s| s.newsletter == n.slug) {
            return Err(fail(
                "newsletter",
                format!("{} a déjà une programmation", n.slug),
            ));
        }
        let remind =
            parse_duration(r.remind.as_deref().unwrap_or("24h")).map_err(|m| fail("remind", m))?;
        let min_entries = r.min_entries.unwrap_or(1);
        schedules.push(TitleSchedule {
            newsletter: n.slug,
            draft: Cron::parse(&r.draft).map_err(|m| fail("draft", m))?,
            send: Cron::parse(&r.send).map_err(|m| fail("send", m))?,
            remind: chrono::Duration::from_std(remind)
                .map_err(|e| fail("remind", e.to_string()))?,
            min_entries,
            auto_send: r.auto_send.unwrap_or(false),
            segment: r.segment,
            editors: r
                .editors
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    crate::domain::EmailAddress::parse(e)
                        .map(|a| a.to_string())
                        .map_err(|problem| fail("editors", format!("« {e} » : {problem}")))
                })
                .collect::<Result<_, _>>()?,
        });
    }
    Ok(schedules)
}

/// A mail domain such as `rebonds.example.org`: ASCII labels of letters, digits and hyphens.
fn parse_domain(text: &str) -> Result<String, String> {
    let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if domain.len() > 253 || !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(format!(
            "`{text}` is not a mail domain such as rebonds.example.org (ASCII letters, digits, \
             hyphens and dots)"
        ));
    }
    Ok(domain)
}

/// `10.0.0.0/8, 192.0.2.7, 2001:db8::/32`: networks, or single addresses.
fn parse_networks(text: &str) -> Result<Vec<ipnet::IpNet>, String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<ipnet::IpNet>()
                .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("`{t}` is not an address or a network such as 10.0.0.0/8"))
        })
        .collect()
}

/// `http://` or `https://` with a host; anything else is a mistake to report now rather than a
/// silent direct connection later.
fn parse_proxy_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported scheme `{}` (use http or https)",
            url.scheme()
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("the proxy URL names no host".into());
    }
    Ok(url)
}

/// toml's messages name the key in prose; pull it out so the error has the usual shape.
fn key_of_toml_error(e: &toml::de::Error) -> String {
    let msg = e.message();
    let first_quoted = msg.split('`').nth(1);
    match first_quoted {
        Some(key) if msg.starts_with("unknown field") => key.to_string(),
        _ => KEYS
            .iter()
            .find(|k| msg.contains(&format!("`{k}`")))
            .map(|k| k.to_string())
            .unwrap_or_else(|| "(syntax)".into()),
    }
}

fn parse_smtp_url(raw: &str) -> Result<SmtpSettings, String> {
    let url = Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
    let mut tls = match url.scheme() {
        "smtp" => SmtpTls::None,
        "smtps" => SmtpTls::Wrapper,
        other => return Err(format!("unsupported scheme `{other}` (use smtp or smtps)")),
    };
    for (k, v) in url.query_pairs() {
        match (k.as_ref(), v.as_ref()) {
            ("tls", "required") if tls == SmtpTls::None => tls = SmtpTls::StartTls,
            ("tls", "none") => {}
            _ => return Err(format!("unknown option `{k}={v}` (only tls=required)")),
        }
    }
    let host = url.host_str().ok_or("the URL has no host")?.to_string();
    let port = url
        .port()
        .unwrap_or(if tls == SmtpTls::Wrapper { 465 } else { 25 });
    let credentials = (!url.username().is_empty()).then(|| {
        // Percent-decoding only: `+` and `&` are themselves in a password, not a space or a
        // separator as in a form.
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        (decode(url.username()), decode(url.password().unwrap_or("")))
    });
    Ok(SmtpSettings {
        host,
        port,
        tls,
        credentials,
        extra_roots: Vec::new(),
    })
}

/// The certificates of a PEM file, each usable as a trusted root; at least one.
fn read_roots(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::{pem::PemObject, CertificateDer};
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("lecture de {shown} impossible : {e}"))?;
    let roots = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{shown} n'est pas un fichier PEM lisible : {e}"))?;
    if roots.is_empty() {
        return Err(format!(
            "{shown} ne contient aucun certificat (BEGIN CERTIFICATE)"
        ));
    }
    let mut store = rustls::RootCertStore::empty();
    for (n, root) in roots.iter().enumerate() {
        store.add(root.clone()).map_err(|e| {
            format!(
                "{shown} : le certificat n° {} n'est pas une autorité utilisable : {e}",
                n + 1
            )
        })?;
    }
    Ok(roots)
}

/// One feed as configured in `sources.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    pub slug: String,
    pub name: String,
    pub url: Url,
    pub newsletter: &'static str,
    pub themes: Vec<String>,
    pub countries: Vec<String>,
    pub every: Duration,
    pub enabled: bool,
    pub allow_private: bool,
    /// Words of which an entry must contain at least one (title or summary, without regard
    /// to case or accents) to be kept; empty: every entry is kept. For broad feeds of which
    /// only a part concerns the network.
    pub keep: Vec<String>,
}

/// A keyword rule: any of `keywords` in an item's title or summary adds the theme or country.
#[derive(Debug, Clone, PartialEq)]
pub struct TagRule {
    pub kind: &'static str,
    pub value: String,
    pub keywords: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub sources: Vec<SourceConfig>,
    pub rules: Vec<TagRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSources {
    #[serde(default)]
    source: Vec<RawSource>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    slug: String,
    name: String,
    url: String,
    newsletter: Option<String>,
    #[serde(default)]
    themes: Vec<String>,
    #[serde(default)]
    countries: Vec<String>,
    every: Option<String>,
    enabled: Option<bool>,
    allow_private: Option<bool>,
    #[serde(default)]
    keep: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    theme: Option<String>,
    country: Option<String>,
    keywords: Vec<String>,
}

impl Sources {
    /// Adds the sources editors defined at the desk (each a `[[source]]` table), replacing the
    /// file's source of the same slug: the desk's changes win. A definition that no longer
    /// reads (a title removed since) is skipped with a warning, never fatal.
    pub fn merge_desk(&mut self, definitions: &[(String, String)]) {
        for (slug, definition) in definitions {
            match Sources::parse(definition, &format!("source « {slug} » de la rédaction")) {
                Ok(parsed) => {
                    for source in parsed.sources {
                        self.sources.retain(|s| s.slug != source.slug);
                        self.sources.push(source);
                    }
                }
                Err(e) => tracing::warn!(slug, "desk source skipped: {e}"),
            }
        }
    }

    /// Reads and validates `sources.toml`. A missing file is an error: the daemon has nothing
    /// to watch and the operator should know why.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(&name, "(file)", format!("cannot read: {e}")))?;
        Self::parse(&text, &name)
    }

    pub fn parse(text: &str, name: &str) -> Result<Self, ConfigError> {
        let raw: RawSources = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            ConfigError::new(name, &format!("line {at}"), e.message().to_string())
        })?;
        let mut seen = HashSet::new();
        let mut sources = Vec::with_capacity(raw.source.len());
        for (i, s) in raw.source.into_iter().enumerate() {
            let at = |key: &str| format!("source[{}] ({}).{key}", i + 1, s.slug);
            let err = |key: &str, m: String| ConfigError::new(name, &at(key), m);
            if !domain::is_slug(&s.slug) {
                return Err(err("slug", "must match [a-z0-9-]+".into()));
            }
            if !seen.insert(s.slug.clone()) {
                return Err(err("slug", "is used by another source".into()));
            }
            if s.name.trim().is_empty() {
                return Err(err("name", "must not be empty".into()));
            }
            let url = Url::parse(&s.url).map_err(|e| err("url", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(err("url", "only http and https feeds are fetched".into()));
            }
            let newsletter = match s.newsletter.as_deref() {
                None => "coopdev-info",
                Some(slug) => Newsletter::find(slug)
                    .map(|n| n.slug)
                    .ok_or_else(|| err("newsletter", format!("unknown title `{slug}`")))?,
            };
            for t in &s.themes {
                if !domain::is_slug(t) {
                    return Err(err("themes", format!("`{t}` is not a theme slug")));
                }
            }
            let countries = s
                .countries
                .iter()
                .map(|c| {
                    domain::parse_country(c).ok_or_else(|| {
                        err("countries", format!("`{c}` is not an ISO alpha-2 code"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let every =
                parse_duration(s.every.as_deref().unwrap_or("1h")).map_err(|m| err("every", m))?;
            sources.push(SourceConfig {
                slug: s.slug.clone(),
                name: s.name.clone(),
                url,
                newsletter,
                themes: s.themes.clone(),
                countries,
                every,
                enabled: s.enabled.unwrap_or(true),
                allow_private: s.allow_private.unwrap_or(false),
                keep: s
                    .keep
                    .iter()
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty())
                    .collect(),
            });
        }
        let rules = raw
            .rule
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let key = |k: &str| format!("rule[{}].{k}", i + 1);
                let (kind, value) = match (r.theme, r.country) {
                    (Some(t), None) if domain::is_slug(&t) => ("theme", t),
                    (None, Some(c)) => (
                        "country",
                        domain::parse_country(&c).ok_or_else(|| {
                            ConfigError::new(
                                name,
                                &key("country"),
                                format!("`{c}` is not an ISO alpha-2 code"),
                            )
                        })?,
                    ),
                    _ => {
                        return Err(ConfigError::new(
                            name,
                            &key("theme"),
                            "give exactly one of theme (a slug) or country",
                        ))
                    }
                };
                if r.keywords.iter().all(|k| k.trim().is_empty()) {
                    return Err(ConfigError::new(
                        name,
                        &key("keywords"),
                        "needs at least one word",
                    ));
                }
                Ok(TagRule {
                    kind,
                    value,
                    keywords: r.keywords,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sources { sources, rules })
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_apply_without_any_file() {
        let c = Config::validate(RawConfig::default(), "relais.toml", &env(&[])).unwrap();
        assert_eq!(c.database_url, "sqlite://data/relais.db");
        assert_eq!(c.outbox_dir, PathBuf::from("data/outbox"));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert!(c.smtp.is_none());
        assert_eq!(c.mail_domain(), "occitanie-cooperation.fr");
    }

    #[test]
    fn sections_of_a_title_come_from_the_file_in_order() {
        let raw: RawConfig = toml::from_str(
            "[[section]]\nnewsletter = \"echos-du-reseau\"\nkey = \"edito\"\nheading = \"Édito\"\n\
             [[section]]\nnewsletter = \"echos-du-reseau\"\nkey = \"annonces\"\nheading = \"Annonces\"\n",
        )
        .unwrap();
        let c = Config::validate(raw, "relais.toml", &env(&[])).unwrap();
        let echos = crate::domain::Newsletter::find("echos-du-reseau").unwrap();
        let keys: Vec<_> = c.sections.of(echos).iter().map(|s| s.key).collect();
        assert_eq!(keys, ["edito", "annonces"]);
        let raw: RawConfig = toml::from_str(
            "[[section]]\nnewsletter = \"coopdev-info\"\nkey = \"Agenda!\"\nheading = \"x\"\n",
        )
        .unwrap();
        let e = Config::validate(raw, "relais.toml", &env(&[])).unwrap_err();
        assert!(e.to_string().contains("`section`: key `Agenda!`"), "{e}");
    }

    #[test]
    fn schedules_name_their_title_and_read_cron_with_seconds() {
        let raw: RawConfig = toml::from_str(
            "[[schedule]]\nnewsletter = \"echos-du-reseau\"\ndraft = \"0 0 9 * * Mon\"\n\
             send = \"0 0 9 * * Thu\"\nmin_entries = 2\n",
        )
        .unwrap();
        let c = Config::validate(raw, "relais.toml", &env(&[])).unwrap();
        let s = &c.schedules[0];
        assert_eq!(
            (
                s.newsletter,
                s.remind.num_hours(),
                s.min_entries,
                s.auto_send
            ),
            ("echos-du-reseau", 24, 2, false)
        );
        assert_eq!(c.schedule_lateness, Duration::from_secs(6 * 3600));
        let raw: RawConfig = toml::from_str(
            "[[schedule]]\nnewsletter = \"la-gazette\"\ndraft = \"0 0 9 * * Mon\"\nsend = \"0 0 9 * * Thu\"\n",
        )
        .unwrap();
        let e = Config::validate(raw, "relais.toml", &env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "relais.toml: `schedule[1].newsletter`: lettre inconnue « la-gazette » (coopdev-info ou echos-du-reseau)"
        );
        let raw: RawConfig = toml::from_str(
            "[[schedule]]\nnewsletter = \"coopdev-info\"\ndraft = \"0 0 9 * * Mon\"\nsend = \"0 9 * * Thu\"\n",
        )
        .unwrap();
        let e = Config::validate(raw, "relais.toml", &env(&[])).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "relais.toml: `schedule[1].send`: expression cron illisible « 0 9 * * Thu »"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_bounce_domain_is_a_mail_domain() {
        assert_eq!(
            parse_domain("Rebonds.Example.org.").as_deref(),
            Ok("rebonds.example.org")
        );
        for bad in [
            "localhost",
            "rebonds@example.org",
            "-x.example.org",
            "a..b",
            "été.fr",
        ] {
            assert!(parse_domain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pacing_and_the_breaker_are_optional_and_checked() {
        let c = Config::validate(RawConfig::default(), "relais.toml", &env(&[])).unwrap();
        assert_eq!(c.pacing, Default::default(), "no pacing unless asked");
        assert_eq!(c.breaker, Default::default());
        let raw: RawConfig = toml::from_str(
            "send_rate = 0.5\nsend_hourly_limit = 1000\nper_domain_connections = \"2\"\n\
             breaker_refusals = 0\nbreaker_window = \"10m\"\n",
        )
        .unwrap();
        let c = Config::validate(raw, "relais.toml", &env(&[])).unwrap();
        assert_eq!(
            (c.pacing.rate, c.pacing.hourly, c.pacing.per_domain),
            (Some(0.5), Some(1000), Some(2))
        );
        assert_eq!(c.breaker.refusals, 0, "0 turns the breaker off");
        assert_eq!(c.breaker.window, Duration::from_secs(600));
        let e = Config::validate(
            RawConfig::default(),
            "relais.toml",
            &env(&[("RELAIS_SEND_RATE", "vite")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("RELAIS_SEND_RATE: `send_rate`: expected messages per second"),
            "{e}"
        );
    }

    #[test]
    fn a_secret_is_at_least_32_bytes_and_not_one_byte_repeated() {
        assert!(validate_secret("a").is_err());
        assert!(validate_secret(&"x".repeat(31)).is_err());
        assert!(validate_secret(&"x".repeat(64)).is_err());
        assert!(validate_secret("0123456789abcdef0123456789abcdef").is_ok());
    }

    #[test]
    fn environment_overrides_the_file() {
        let raw: RawConfig = toml::from_str("listen = \"127.0.0.1:9000\"").unwrap();
        let c =
            Config::validate(raw, "relais.toml", &env(&[("RELAIS_LISTEN", "0.0.0.0:80")])).unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:80");
    }

    #[test]
    fn errors_name_origin_key_and_problem() {
        let e = Config::validate(
            RawConfig::default(),
            "relais.toml",
            &env(&[("RELAIS_SMTP_URL", "http://mail")]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "RELAIS_SMTP_URL: `smtp_url`: unsupported scheme `http` (use smtp or smtps)"
        );
        let raw: RawConfig = toml::from_str("smtp_connections = 0").unwrap();
        let e = Config::validate(raw, "conf/relais.toml", &env(&[])).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("conf/relais.toml: `smtp_connections`:"),
            "{e}"
        );
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let e = toml::from_str::<RawConfig>("smtp_ulr = \"x\"").unwrap_err();
        assert!(e.message().contains("unknown field"));
        assert_eq!(key_of_toml_error(&e), "smtp_ulr");
    }

    #[test]
    fn smtp_passwords_keep_plus_and_ampersand() {
        let s = parse_smtp_url("smtp://relais:p+ss&w=rd%25@mail.example.org:587").unwrap();
        assert_eq!(
            s.credentials,
            Some(("relais".to_string(), "p+ss&w=rd%".to_string()))
        );
    }

    #[test]
    fn smtp_urls_carry_tls_mode_and_credentials() {
        let s = parse_smtp_url("smtp://user%40x:p%2Fw@mail.example.org:587?tls=required").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.org", 587, SmtpTls::StartTls)
        );
        assert_eq!(s.credentials, Some(("user@x".into(), "p/w".into())));
        assert_eq!(parse_smtp_url("smtps://relay").unwrap().port, 465);
        assert!(parse_smtp_url("smtp://relay?tls=maybe").is_err());
    }

    #[test]
    fn an_smtp_ca_file_adds_its_roots_to_a_tls_relay_only() {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/ca.pem");
        let with = |url: &str, ca: &str| {
            Config::validate(
                RawConfig::default(),
                "relais.toml",
                &env(&[("RELAIS_SMTP_URL", url), ("RELAIS_SMTP_CA_FILE", ca)]),
            )
        };
        for url in ["smtps://relay.lan", "smtp://relay.lan:587?tls=required"] {
            let smtp = with(url, fixture).unwrap().smtp.unwrap();
            assert_eq!(smtp.extra_roots.len(), 1, "{url}");
        }
        let no_file = Config::validate(RawConfig::default(), "relais.toml", &env(&[])).unwrap();
        assert!(no_file.smtp.is_none());

        let error = |url: &str, ca: &str| with(url, ca).unwrap_err().to_string();
        let in_clear = error("smtp://relay.lan:25", fixture);
        assert!(
            in_clear.starts_with("RELAIS_SMTP_CA_FILE: `smtp_ca_file`: ne sert qu'avec"),
            "{in_clear}"
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.pem");
        let missing = error("smtps://relay.lan", missing.to_str().unwrap());
        assert!(missing.contains("lecture de"), "{missing}");
        let not_pem = dir.path().join("key.pem");
        std::fs::write(&not_pem, "pas un certificat\n").unwrap();
        let not_pem = error("smtps://relay.lan", not_pem.to_str().unwrap());
        assert!(not_pem.contains("aucun certificat"), "{not_pem}");
        let not_a_root = dir.path().join("garbage.pem");
        std::fs::write(
            &not_a_root,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let not_a_root = error("smtps://relay.lan", not_a_root.to_str().unwrap());
        assert!(
            not_a_root.contains("n'est pas une autorité"),
            "{not_a_root}"
        );
    }

    #[test]
    fn sources_are_validated_with_their_position() {
        let ok = Sources::parse(
            "[[source]]\nslug = \"afd\"\nname = \"AFD\"\nurl = \"https://afd.fr/rss\"\nthemes = [\"financement\"]\ncountries = [\"sn\"]\nevery = \"6h\"\n",
            "sources.toml",
        )
        .unwrap();
        let s = &ok.sources[0];
        assert_eq!(
            (s.newsletter, s.every.as_secs(), s.countries[0].as_str()),
            ("coopdev-info", 21_600, "SN")
        );

        let dup = "[[source]]\nslug = \"a\"\nname = \"A\"\nurl = \"https://a.fr\"\n".repeat(2);
        let e = Sources::parse(&dup, "sources.toml").unwrap_err();
        assert_eq!(
            e.to_string(),
            "sources.toml: `source[2] (a).slug`: is used by another source"
        );

        let e = Sources::parse(
            "[[source]]\nslug = \"a\"\nname = \"A\"\nurl = \"ftp://a.fr\"\n",
            "s.toml",
        )
        .unwrap_err();
        assert!(e.to_string().contains("source[1] (a).url"), "{e}");

        let e = Sources::parse(
            "[[source]]\nslug = \"a\"\nname = \"A\"\nurl = \"https://a.fr\"\ncolour = 1\n",
            "s.toml",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("line 5") && e.to_string().contains("colour"),
            "{e}"
        );
    }
}

#[cfg(test)]
mod shipped {
    use super::*;

    #[test]
    fn the_shipped_source_list_is_valid_and_substantial() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sources.toml");
        let sources = Sources::load(&path).unwrap();
        assert!(
            sources.sources.len() >= 10,
            "{} sources",
            sources.sources.len()
        );
        assert!(sources
            .sources
            .iter()
            .all(|s| s.url.scheme() == "https" && !s.allow_private));
        assert!(sources.rules.iter().any(|r| r.kind == "country"));
    }
}
