//! Wiring and lifecycle: open the store, load templates, build the stages, and for `serve`
//! run the web server, the scheduler and the sender workers until a signal, then stop them in
//! order (stop taking work, finish what is in hand, close the database).

use std::future::IntoFuture;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::assets::{self, Templates};
use crate::audience::{Links, Signer};
use crate::config::{Config, Sources};
use crate::desk::Masthead;
use crate::dispatch::message::parse_mailbox;
use crate::dispatch::transport::Transport;
use crate::dispatch::{DispatchSettings, Dispatcher};
use crate::render::Renderer;
use crate::store::Store;
use crate::watch::Watcher;

pub struct App {
    pub config: Config,
    pub sources: Sources,
    pub store: Store,
    pub renderer: Arc<Renderer>,
    pub links: Links,
    pub dispatcher: Dispatcher,
    pub watcher: Watcher,
    pub pages: crate::web::Pages,
    pub limits: crate::web::Limits,
    pub masthead: Masthead,
    /// Whether this process holds the scheduler's lease and runs the schedule (shown on
    /// `/metrics`).
    pub leader: std::sync::atomic::AtomicBool,
    /// The process's metrics, rendered in Prometheus's text format on `/metrics`.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

impl App {
    /// Today in the configured timezone, by the store's clock.
    pub fn today(&self) -> chrono::NaiveDate {
        self.store
            .now()
            .with_timezone(&self.config.timezone)
            .date_naive()
    }

    /// Reading bounce and complaint reports with this installation's secret and settings.
    pub fn bounces(&self) -> crate::bounces::Ingest<'_> {
        crate::bounces::Ingest {
            store: &self.store,
            signer: &self.links.signer,
            soft_limit: self.config.soft_bounce_limit,
        }
    }

    /// Everything a command needs, checked before anything runs: sources, templates,
    /// database (migrated), secret, DKIM key.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let mut sources = match &config.sources_path {
            Some(path) => Sources::load(path)?,
            None if Path::new("sources.toml").is_file() => {
                Sources::load(Path::new("sources.toml"))?
            }
            None => Sources::parse(assets::DEFAULT_SOURCES, "sources.toml (built in)")?,
        };
        let templates = match &config.templates_dir {
            Some(dir) => Templates::with_overrides(dir, true)?,
            None => Templates::with_overrides(Path::new("templates"), false)?,
        };
        let renderer = Arc::new(Renderer::load(&templates).context("templates")?);
        let pages = crate::web::Pages::load(
            &templates,
            &format!("{} — {}", config.organisation, config.postal_address),
        )
        .context("templates")?;
        let masthead = Masthead::from_config(&config);
        let store = Store::open(&config.database_url).await?;
        sources.merge_desk(&store.desk_sources().await?);
        store.sync_sources(&sources.sources).await?;
        let secret = match &config.secret {
            Some(s) => s.clone(),
            None => load_or_create_secret(&config.data_dir)?,
        };
        if config.base_url.scheme() != "https"
            && !matches!(
                config.base_url.host_str(),
                Some("127.0.0.1" | "localhost" | "::1")
            )
        {
            tracing::warn!(base_url = %config.base_url, "RFC 8058 one-click unsubscribe needs an https base_url; mailbox providers will not offer it");
        }
        let links = Links {
            base: config.base_url.clone(),
            signer: Signer::new(&secret),
        };
        let transport = match &config.smtp {
            Some(settings) => Transport::Smtp {
                settings: settings.clone(),
                reply_timeout: config.smtp_timeout,
            },
            None => Transport::Outbox(config.outbox_dir.clone()),
        };
        let dkim = match &config.dkim {
            Some(d) => {
                let pem = std::fs::read_to_string(&d.key_path)
                    .with_context(|| format!("cannot read DKIM key {}", d.key_path.display()))?;
                Some(crate::dispatch::message::dkim_config(
                    &pem,
                    &d.selector,
                    &d.domain,
                )?)
            }
            None => None,
        };
        let dispatcher = Dispatcher::new(
            store.clone(),
            renderer.clone(),
            transport,
            links.clone(),
            DispatchSettings {
                from: parse_mailbox(&config.from).map_err(anyhow::Error::msg)?,
                unsubscribe_mailto: config.list_unsubscribe_mailto.clone(),
                transactional_from: parse_mailbox(&config.transactional_from)
                    .map_err(anyhow::Error::msg)?,
                mail_domain: config.mail_domain(),
                connections: config.smtp_connections,
                retry_schedule: config.retry_schedule.clone(),
                give_up_after: config.give_up_after,
                dkim,
                masthead: masthead.clone(),
                bounce_domain: config.bounce_domain.clone(),
                pacing: config.pacing.clone(),
                breaker: config.breaker.clone(),
            },
        );
        let watcher = Watcher::new(
            store.clone(),
            &sources,
            config.fetch_max_body,
            config.fetch_concurrency,
            config.fetch_proxy.as_ref(),
        )?;
        Ok(App {
            config,
            sources,
            store,
            renderer,
            links,
            dispatcher,
            watcher,
            pages,
            masthead,
            limits: crate::web::Limits::default(),
            leader: Default::default(),
            metrics: metrics_handle(),
        })
    }

    /// The daemon: web server, scheduler (feed polling, sending) until Ctrl-C or SIGTERM.
    /// Then: no new claim, the SMTP transactions in flight get `shutdown_grace` to end, the
    /// claims not attempted and the scheduler's lease are given back, exit 0. Past the grace
    /// the attempts are cut (their rows become `unknown` at the next start) and the exit is
    /// an error that says so.
    pub async fn serve(self: Arc<Self>) -> anyhow::Result<()> {
        let cancel = CancellationToken::new();
        crate::schedule::check_targets(&self).await?;
        let recovered = self.dispatcher.recover_abandoned().await?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "deliveries interrupted by a previous stop are now 'unknown'"
            );
        }
        let listener = tokio::net::TcpListener::bind(self.config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", self.config.listen))?;
        tracing::info!(
            listen = %self.config.listen,
            transport = %self.dispatcher.transport().describe(),
            "relais is serving"
        );
        let scheduler = tokio::spawn(crate::schedule::run(self.clone(), cancel.clone()));
        let mut server = tokio::spawn(
            axum::serve(
                listener,
                crate::web::router(self.clone())
                    .into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(cancel.clone().cancelled_owned())
            .into_future(),
        );
        let web_ended = tokio::select! {
            _ = shutdown_signal() => {
                tracing::info!(
                    grace = ?self.config.shutdown_grace,
                    "stopping: no new claim, finishing the messages in flight"
                );
                None
            }
            ended = &mut server => Some(ended),
        };
        let started = std::time::Instant::now();
        cancel.cancel();
        let stopped = scheduler.await.context("scheduler task");
        // Pages still open (a send's live progress) get what is left of the grace.
        let web = match web_ended {
            Some(ended) => Some(ended),
            None => {
                let left = self.config.shutdown_grace.saturating_sub(started.elapsed());
                tokio::time::timeout(left, &mut server).await.ok()
            }
        };
        server.abort();
        self.store.close().await;
        stopped??;
        if let Some(ended) = web {
            ended.context("web server")?.context("web server")?;
        }
        tracing::info!(took = ?started.elapsed(), "stopped");
        Ok(())
    }
}

/// For `serve` on SQLite: an exclusive lock on `DATABASE-serve.lock`, held while the returned
/// file lives. SQLite is one process's database: a second daemon on the same file is refused
/// with a message naming it, while one-shot commands (which do not take the lock) still work.
/// The lock is the operating system's, so it goes with the process, however it ends.
pub fn single_daemon_lock(config: &Config) -> anyhow::Result<Option<std::fs::File>> {
    let Some(database) = crate::store::sqlite_file(&config.database_url) else {
        return Ok(None);
    };
    let mut path = database.clone().into_os_string();
    path.push("-serve.lock");
    let path = std::path::PathBuf::from(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => anyhow::bail!(
            "un autre « relais serve » utilise déjà la base SQLite {} : SQLite n'accepte \
             qu'un démon à la fois (plusieurs processus : PostgreSQL)",
            database.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// The signing key when none is configured: generated once, kept in `data/secret`.
/// The process's one metrics recorder, installed on first use (every counter and gauge of
/// the `metrics` crate lands in it).
fn metrics_handle() -> metrics_exporter_prometheus::PrometheusHandle {
    static HANDLE: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
            }
            handle
        })
        .clone()
}

fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join("secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return crate::config::validate_secret(secret.trim())
            .map_err(|problem| anyhow::anyhow!("{} : {problem}", path.display()));
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let secret = hex::encode(rand::random::<[u8; 32]>());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    Ok(secret)
}
