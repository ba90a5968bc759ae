//! Dispatch: freeze an issue's audience into the delivery ledger, then sender workers claim
//! small batches, send outside any transaction and record each outcome. The only user of
//! lettre. Suppression and unsubscribes are checked again just before each send.
#![allow(clippy::disallowed_types)] // this module owns it

pub mod breaker;
pub mod control;
pub mod dkim;
mod ledger;
pub mod message;
pub mod pacing;
pub mod transport;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use lettre::address::Address;
use lettre::message::Mailbox;
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::audience::Links;
use crate::desk;
use crate::domain::{Interests, IssueStatus, MailKind, Newsletter, SafeUrl};
use crate::render::{IssueView, MailView, Recipient, Renderer, Selection};
use crate::store::{ClaimedDelivery, ClaimedMail, DeliveryOutcome, DispatchRow, Receiver, Store};
use breaker::{Breaker, BreakerSettings};
use ledger::{Lane, Ledger};
use pacing::{Pacer, PacingSettings};
use transport::{Connection, SendResult, Transport};

/// Deliveries leased per claim, at most. Claiming reserves without starting: only the message in flight
/// on each connection is `sending`, so after a crash the rest of a claim is still queued.
const BATCH: i64 = 16;
/// While newsletters are being sent, how often a worker looks for transactional mail.
const MAIL_CHECK_EVERY: Duration = Duration::from_secs(1);
/// A claimed row whose worker vanished is recovered after this long.
const LEASE_MARGIN: Duration = Duration::from_secs(5 * 60);

/// A dispatch with its issue, and each copy of it rendered and encoded once: the full issue,
/// and one per distinct selection of entries that readers' interests make.
struct Prepared {
    dispatch: DispatchRow,
    newsletter: &'static Newsletter,
    view: IssueView,
    copies: std::sync::Mutex<HashMap<Selection, Arc<message::Template>>>,
}

impl Prepared {
    fn copy_for(
        &self,
        renderer: &Renderer,
        settings: &DispatchSettings,
        interests: &Interests,
    ) -> anyhow::Result<Arc<message::Template>> {
        let selection = self.view.selection(interests);
        if let Some(copy) = self.lock().get(&selection) {
            return Ok(copy.clone());
        }
        // Rendered outside the lock; two workers racing on a new copy both render it once.
        let rendered = renderer.render_issue(&self.view.select(&selection))?;
        let list_id = self.newsletter.list_id(&settings.mail_domain);
        let copy = Arc::new(message::Template::new(
            settings.list_message(&rendered.subject, &list_id),
            &rendered.html_pieces(),
            &rendered.text_pieces(),
        ));
        self.lock().insert(selection, copy.clone());
        Ok(copy)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Selection, Arc<message::Template>>> {
        self.copies
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub struct DispatchSettings {
    pub from: Mailbox,
    pub transactional_from: Mailbox,
    pub unsubscribe_mailto: Option<String>,
    pub mail_domain: String,
    pub connections: usize,
    pub retry_schedule: Vec<Duration>,
    pub give_up_after: Duration,
    pub dkim: Option<dkim::DkimSigner>,
    pub masthead: desk::Masthead,
    /// The domain of per-delivery VERP return paths (see `crate::bounces::verp`).
    pub bounce_domain: Option<String>,
    pub pacing: PacingSettings,
    pub breaker: BreakerSettings,
}

impl DispatchSettings {
    /// The header fields shared by every message of an issue to a title.
    fn list_message<'a>(&'a self, subject: &'a str, list_id: &'a str) -> message::Common<'a> {
        message::Common {
            from: &self.from,
            subject,
            list: Some(message::List {
                id: list_id,
                unsubscribe_mailto: self.unsubscribe_mailto.as_deref(),
            }),
        }
    }
}

pub struct Dispatcher {
    store: Store,
    renderer: Arc<Renderer>,
    transport: Transport,
    links: Links,
    settings: DispatchSettings,
    /// Each dispatch with its issue rendered once, shared by every recipient of it.
    prepared: Mutex<HashMap<i64, Arc<Prepared>>>,
    owner: String,
    /// Wakes the send loop when a request queued a transactional mail.
    wake: Notify,
    pacer: Pacer,
    breaker: Breaker,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PassStats {
    /// Newsletter deliveries and transactional mails claimed.
    pub claimed: usize,
    pub sent: usize,
    /// Outcomes that arrived after their lease was lost (logged, and counted in `/metrics`).
    pub late: usize,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        renderer: Arc<Renderer>,
        transport: Transport,
        links: Links,
        settings: DispatchSettings,
    ) -> Self {
        let owner = format!(
            "{}:{}:{}",
            process_scope(),
            std::process::id(),
            rand::random::<u32>()
        );
        Self {
            pacer: Pacer::new(&settings.pacing),
            breaker: Breaker::new(settings.breaker.clone()),
            store,
            renderer,
            transport,
            links,
            settings,
            prepared: Mutex::new(HashMap::new()),
            owner,
            wake: Notify::new(),
        }
    }

    /// A claim outlives the slowest possible attempt: connect, three commands, the final reply.
    fn lease(&self) -> Duration {
        match &self.transport {
            Transport::Smtp { reply_timeout, .. } => *reply_timeout * 4 + LEASE_MARGIN,
            Transport::Outbox(_) => LEASE_MARGIN,
        }
    }

    /// Turns deliveries abandoned by a dead sender (this host's process gone, or lease
    /// expired) into `unknown`. Called before sending starts.
    pub async fn recover_abandoned(&self) -> anyhow::Result<u64> {
        let here = process_scope();
        Ok(self
            .store
            .recover_abandoned_deliveries(|owner| {
                if owner == self.owner {
                    return false;
                }
                let mut parts = owner.splitn(3, ':');
                match (
                    parts.next(),
                    parts.next().and_then(|p| p.parse::<u32>().ok()),
                ) {
                    // Same pid but another owner: the pid was reused (containers restart as 1).
                    (Some(host), Some(pid)) if host == here => {
                        pid == std::process::id() || !is_running(pid)
                    }
                    _ => false,
                }
            })
            .await?)
    }

    /// Gives back every delivery this process claimed and did not attempt (on stop, even a
    /// forced one): queued again at once, for another process or the next start.
    pub async fn release_claims(&self) -> anyhow::Result<u64> {
        Ok(self.store.release_owner_claims(&self.owner).await?)
    }

    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Finds or creates the dispatch of this issue to this audience and freezes its
    /// recipients. Returns the dispatch and how many recipients were added now.
    pub async fn queue(
        &self,
        issue_id: i64,
        segment: Option<&str>,
    ) -> anyhow::Result<(DispatchRow, u64)> {
        let issue = self
            .store
            .issue(issue_id)
            .await
            .context("issue introuvable")?;
        let segment = match segment {
            Some(slug) => {
                let (id, newsletter) = self
                    .store
                    .segment(slug)
                    .await
                    .with_context(|| format!("segment « {slug} » introuvable"))?;
                anyhow::ensure!(
                    newsletter == issue.newsletter,
                    "le segment « {slug} » appartient à {newsletter}, pas à {}",
                    issue.newsletter
                );
                Some((id, slug))
            }
            None => None,
        };
        let (dispatch, _) = self
            .store
            .find_or_create_dispatch(issue_id, segment)
            .await?;
        if dispatch.state == crate::domain::DispatchState::Cancelled {
            return Err(control::DispatchCancelled {
                dispatch: dispatch.id,
                issue: issue_id,
                reason: dispatch.state_reason.clone(),
            }
            .into());
        }
        let added = self
            .store
            .freeze_audience(&dispatch, &self.settings.mail_domain)
            .await?;
        if issue.status != IssueStatus::Sent {
            self.store
                .set_issue_status(issue_id, IssueStatus::Sending)
                .await?;
        }
        Ok((dispatch, added))
    }

    /// Runs `connections` workers until no delivery is due (or `cancel` fires). With a
    /// dispatch id, only that dispatch is worked on.
    pub async fn deliver_due(
        &self,
        only: Option<i64>,
        cancel: &CancellationToken,
    ) -> anyhow::Result<PassStats> {
        let (ledger, writer) = Ledger::start(self.store.clone());
        let workers =
            (0..self.settings.connections.max(1)).map(|_| self.work(only, cancel, ledger.lane()));
        let results = futures::future::join_all(workers).await;
        drop(ledger);
        let late = writer.finish().await?;
        let mut total = PassStats {
            late,
            ..PassStats::default()
        };
        for r in results {
            let s = r?;
            total.claimed += s.claimed;
            total.sent += s.sent;
            total.late += s.late;
        }
        Ok(total)
    }

    async fn work(
        &self,
        only: Option<i64>,
        cancel: &CancellationToken,
        mut lane: Lane,
    ) -> anyhow::Result<PassStats> {
        let mut connection = self.transport.connection();
        let mut stats = PassStats::default();
        // Looked for at the start and then at most once a second while a newsletter is being
        // sent, so that a large send does not pay a second claim per message.
        let mut next_mail_check = std::time::Instant::now();
        // Claims start small and grow, so that a small send still uses every connection.
        let mut claim = 1;
        let mut prefetched = None;
        while !cancel.is_cancelled() {
            // Transactional mail first: someone is waiting for that link now. A pass limited
            // to one dispatch (`issue send --wait`) leaves it to the daemon.
            if only.is_none() && std::time::Instant::now() >= next_mail_check {
                let mail = self.store.claim_mail(&self.owner, self.lease()).await?;
                if mail.is_none() {
                    next_mail_check = std::time::Instant::now() + MAIL_CHECK_EVERY;
                }
                if let Some(mail) = mail {
                    stats.claimed += 1;
                    let span = tracing::info_span!("mail", id = mail.id, kind = %mail.kind);
                    let permit = self.pacer.admit(&mail.email).await;
                    let outcome = self
                        .deliver_mail(&mut connection, &mail)
                        .instrument(span)
                        .await;
                    drop(permit);
                    stats.sent += matches!(outcome, DeliveryOutcome::Sent { .. }) as usize;
                    count_outcome("mail", &outcome);
                    if !self
                        .store
                        .record_mail(mail.id, &self.owner, &outcome)
                        .await?
                    {
                        self.late_outcome("mail", mail.id, &outcome, &mut stats);
                    }
                    continue;
                }
            }
            // Outcomes held for the next mark are committed while the claim runs.
            // The next claim was made while the last message of this one went out.
            let (batch, mut receivers) = match prefetched.take() {
                Some(claimed) => claimed,
                None => {
                    // Outcomes held for the next mark are committed while the claim runs.
                    lane.flush()?;
                    self.claim(only, &mut claim).await?
                }
            };
            if batch.is_empty() {
                break;
            }
            let last = batch.len() - 1;
            // Rows whose attempt did not start (a pause, a cancel, a lost lease) go back.
            let mut untried = Vec::new();
            let mut claimed = batch.into_iter().enumerate();
            for (n, delivery) in claimed.by_ref() {
                stats.claimed += 1;
                let span = tracing::info_span!(
                    "delivery",
                    id = delivery.id,
                    dispatch = delivery.dispatch_id,
                    subscriber = delivery.subscriber_id
                );
                if self.pacer.is_paced() {
                    lane.flush()?;
                }
                let permit = self.pacer.admit(&delivery.email).await;
                let receiver = receivers.remove(&delivery.id);
                let send = self
                    .deliver(&mut connection, &mut lane, &delivery, receiver)
                    .instrument(span);
                // The connection would wait for a claim after its last message: the next one
                // is made meanwhile (not when paced, where claims are of one).
                let (outcome, next) = if n == last && !self.pacer.is_paced() {
                    let (outcome, next) = tokio::join!(send, self.claim(only, &mut claim));
                    (outcome, Some(next))
                } else {
                    (send.await, None)
                };
                drop(permit);
                if let Some(outcome) = outcome {
                    stats.sent += matches!(outcome, DeliveryOutcome::Sent { .. }) as usize;
                    count_outcome("newsletter", &outcome);
                    // The breaker reads the outcome once it is on its way to the ledger, so
                    // that a failure to pause never loses what the relay answered.
                    let dispatch = delivery.dispatch_id;
                    let refused = outcome.clone();
                    lane.record(delivery.id, &self.owner, outcome);
                    self.observe(dispatch, &refused).await?;
                } else {
                    untried.push(delivery.id);
                }
                if let Some(next) = next {
                    prefetched = Some(next?);
                }
                if cancel.is_cancelled() {
                    break;
                }
            }
            untried.extend(claimed.map(|(_, d)| d.id));
            if !untried.is_empty() {
                self.store.release_deliveries(&untried, &self.owner).await?;
            }
        }
        // A claim made ahead and not begun goes back.
        if let Some((batch, _)) = prefetched {
            let ids: Vec<i64> = batch.iter().map(|d| d.id).collect();
            self.store.release_deliveries(&ids, &self.owner).await?;
        }
        connection.close().await;
        Ok(stats)
    }

    /// Claims up to `size` due deliveries and reads who each is for (status, subscription and
    /// suppression checked again for the whole claim at once); the next claim may be twice as
    /// large (one at a time when a rate applies).
    async fn claim(
        &self,
        only: Option<i64>,
        size: &mut i64,
    ) -> anyhow::Result<(Vec<ClaimedDelivery>, HashMap<i64, Receiver>)> {
        let batch = self
            .store
            .claim_deliveries(only, &self.owner, *size, self.lease())
            .await?;
        *size = (*size * 2).min(if self.pacer.is_paced() { 1 } else { BATCH });
        if batch.is_empty() {
            return Ok((batch, HashMap::new()));
        }
        let receivers = self.receivers(&batch).await?;
        Ok((batch, receivers))
    }

    /// Feeds an outcome to the circuit breaker; when it trips, the dispatch pauses and the
    /// editors are mailed (once per pause), and the send loop wakes for that mail.
    async fn observe(&self, dispatch: i64, outcome: &DeliveryOutcome) -> anyhow::Result<()> {
        let Some(reason) = self
            .breaker
            .observe(dispatch, outcome, std::time::Instant::now())
        else {
            return Ok(());
        };
        if self
            .store
            .pause_dispatch_and_notify(dispatch, &reason, &self.settings.mail_domain)
            .await?
        {
            tracing::warn!(dispatch, %reason, "dispatch paused by the 5.7.x circuit breaker; `relais issue resume` goes on");
            self.wake();
        }
        Ok(())
    }

    /// An attempt ended after its lease was taken back (the row is `unknown` now): the
    /// ledger keeps `unknown`, the real outcome goes to the log and the count.
    fn late_outcome(
        &self,
        ledger: &str,
        id: i64,
        outcome: &DeliveryOutcome,
        stats: &mut PassStats,
    ) {
        stats.late += 1;
        metrics::counter!("relais_late_outcomes_total").increment(1);
        tracing::warn!(
            ledger,
            id,
            ?outcome,
            "outcome not recorded: the lease expired before the attempt ended, the row stays 'unknown'"
        );
    }

    /// The domain of Message-IDs and list identifiers.
    pub fn mail_domain(&self) -> &str {
        &self.settings.mail_domain
    }

    /// Asks the send loop to run now (a request has just queued a transactional mail).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Waits until `wake` is called (or returns at once if it was called since last time).
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    async fn deliver_mail(&self, connection: &mut Connection, m: &ClaimedMail) -> DeliveryOutcome {
        match self.try_deliver_mail(connection, m).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(mail = m.id, "mail failed before sending: {e:#}");
                self.deferred(m.created_at, m.attempts, format!("erreur interne : {e}"))
            }
        }
    }

    /// A mail to a member (sign-in link, refused ad, expiry notice) or to the editors (a
    /// schedule run's notice), read from its tables when it leaves; `Err` says why it is no longer worth sending.
    async fn member_mail(
        &self,
        m: &ClaimedMail,
    ) -> anyhow::Result<Result<crate::render::RenderedMail, String>> {
        let org = || {
            crate::render::model_org_in(
                &self.settings.masthead.organisation,
                &self.settings.masthead.postal_address,
                self.settings.masthead.timezone,
            )
        };
        let view = match m.kind {
            MailKind::MemberLink => {
                let link = match m.login_id {
                    Some(id) => self.store.login_link(id).await?,
                    None => None,
                };
                let Some(login) = link else {
                    return Ok(Err("lien de connexion utilisé, remplacé ou expiré".into()));
                };
                let name = match self.store.person_by_email(&m.email).await? {
                    Some(p) => p.name,
                    None => String::new(),
                };
                let link = SafeUrl::parse(&self.links.member_login(
                    login.id,
                    &login.nonce,
                    login.expires_at,
                ))
                .context("sign-in link")?;
                MailView::member_link(&name, link, crate::audience::MEMBER_LINK_MINUTES, org())
            }
            MailKind::AdRejected | MailKind::AdExpiring => {
                let ad = match m.ad_id {
                    Some(id) => self.store.ad(id).await.ok(),
                    None => None,
                };
                let Some(ad) = ad else {
                    return Ok(Err("annonce supprimée".into()));
                };
                if m.kind == MailKind::AdRejected {
                    let link = SafeUrl::parse(
                        &self
                            .links
                            .page(&format!("/espace-membre/annonces/{}", ad.id)),
                    )
                    .context("ad link")?;
                    let reason = ad.reject_reason.clone().unwrap_or_default();
                    MailView::ad_rejected(&ad.title, &reason, link, org())
                } else {
                    if ad.state != "approved" {
                        return Ok(Err("annonce retirée ou échue entre-temps".into()));
                    }
                    let link =
                        SafeUrl::parse(&self.links.extend_ad(ad.id, ad.created_at, ad.expires_on))
                            .context("extension link")?;
                    let date = crate::render::french_date(ad.expires_on).replace('\u{a0}', " ");
                    MailView::ad_expiring(&ad.title, &date, link, org())
                }
            }
            MailKind::ScheduleNotice => {
                let run = match m.job_run_id {
                    Some(id) => self.store.job_run(id).await?,
                    None => None,
                };
                let Some(run) = run else {
                    return Ok(Err("exécution de la programmation supprimée".into()));
                };
                let link = SafeUrl::parse(&self.links.page("/admin/programmation"))
                    .context("desk link")?;
                crate::schedule::notice_view(&run, self.settings.masthead.timezone, link, org())
            }
            MailKind::DispatchPaused => {
                let issue = match m.issue_id {
                    Some(id) => self.store.issue(id).await.ok(),
                    None => None,
                };
                let Some(issue) = issue else {
                    return Ok(Err("numéro supprimé".into()));
                };
                let paused = self
                    .store
                    .dispatch_controls(issue.id)
                    .await?
                    .into_iter()
                    .filter(|d| d.state == crate::domain::DispatchState::Paused)
                    .max_by_key(|d| d.changed_at);
                let Some(paused) = paused else {
                    return Ok(Err("envoi repris ou annulé entre-temps".into()));
                };
                let title = Newsletter::find(&issue.newsletter)
                    .map_or(issue.newsletter.as_str(), |n| n.name);
                let link = SafeUrl::parse(
                    &self
                        .links
                        .page(&format!("/admin/numeros/{}/suivi", issue.id)),
                )
                .context("desk link")?;
                MailView::dispatch_paused(
                    &format!("Envoi suspendu : {title} — {}", issue.subject),
                    &paused.reason,
                    &paused
                        .changed_at
                        .map(|t| crate::schedule::local_time(t, self.settings.masthead.timezone))
                        .unwrap_or_default(),
                    link,
                    org(),
                )
            }
            MailKind::Confirmation | MailKind::Test => {
                anyhow::bail!("not a member's mail: {}", m.kind)
            }
        };
        Ok(Ok(self.renderer.render_mail(&view)?))
    }

    async fn try_deliver_mail(
        &self,
        connection: &mut Connection,
        m: &ClaimedMail,
    ) -> anyhow::Result<DeliveryOutcome> {
        let (subject, html, text) = match m.kind {
            MailKind::Confirmation => {
                let data = match m.subscriber_id {
                    Some(id) => self.store.confirmation_data(id).await?,
                    None => None,
                };
                let Some(data) = data else {
                    return Ok(DeliveryOutcome::Skipped {
                        reason: "personne effacée ou adresse bloquée".into(),
                    });
                };
                let link = SafeUrl::parse(&self.links.confirm(&data.confirm_key))
                    .context("confirmation link")?;
                let view = MailView::confirmation(
                    &data.name,
                    link,
                    crate::audience::CONFIRMATION_VALIDITY_DAYS,
                    crate::render::model_org_in(
                        &self.settings.masthead.organisation,
                        &self.settings.masthead.postal_address,
                        self.settings.masthead.timezone,
                    ),
                );
                let rendered = self.renderer.render_mail(&view)?;
                (rendered.subject, rendered.html, rendered.text)
            }
            // A test shows the issue as it is when the test leaves, whole, with the personal
            // links pointing to the home page (no list headers: nobody is subscribed by it).
            MailKind::Test => {
                let issue = match m.issue_id {
                    Some(id) => self.store.issue(id).await.ok(),
                    None => None,
                };
                let Some(issue) = issue else {
                    return Ok(DeliveryOutcome::Skipped {
                        reason: "numéro supprimé".into(),
                    });
                };
                let preview = desk::preview_issue(
                    &self.store,
                    &self.links,
                    &self.renderer,
                    &issue,
                    None,
                    &self.settings.masthead,
                )
                .await?;
                (
                    format!("[Essai] {}", preview.subject),
                    preview.html,
                    preview.text,
                )
            }
            MailKind::MemberLink
            | MailKind::AdRejected
            | MailKind::AdExpiring
            | MailKind::ScheduleNotice
            | MailKind::DispatchPaused => match self.member_mail(m).await? {
                Ok(rendered) => (rendered.subject, rendered.html, rendered.text),
                Err(reason) => return Ok(DeliveryOutcome::Skipped { reason }),
            },
        };
        let to: Address = match m.email.parse() {
            Ok(a) => a,
            Err(e) => {
                return Ok(DeliveryOutcome::Failed {
                    reply: format!("adresse invalide : {e}"),
                })
            }
        };
        let bytes = message::build(
            message::Common {
                from: &self.settings.transactional_from,
                subject: &subject,
                list: None,
            },
            &message::Personal {
                to: &m.email,
                message_id: &m.message_id,
                unsubscribe_url: None,
            },
            &html,
            &text,
            self.settings.dkim.as_ref(),
        )?;
        let result = connection
            .send(
                &self.settings.transactional_from.email,
                &to,
                &m.message_id,
                &bytes,
            )
            .await;
        Ok(match result {
            SendResult::Accepted(reply) => DeliveryOutcome::Sent { reply },
            SendResult::Transient(reply) => self.deferred(m.created_at, m.attempts, reply),
            SendResult::Ambiguous(reply) => DeliveryOutcome::Unknown { reply },
            SendResult::Permanent { reply, enhanced } => {
                if let (Some(id), true) = (
                    m.subscriber_id,
                    enhanced.as_deref().is_some_and(|c| c.starts_with("5.1.")),
                ) {
                    self.store.mark_bounced(id).await?;
                }
                DeliveryOutcome::Failed { reply }
            }
        })
    }

    /// One delivery's attempt; `None` when its lease was lost before it began (nothing sent,
    /// nothing to record).
    async fn deliver(
        &self,
        connection: &mut Connection,
        lane: &mut Lane,
        d: &ClaimedDelivery,
        receiver: Option<Receiver>,
    ) -> Option<DeliveryOutcome> {
        match self.try_deliver(connection, lane, d, receiver).await {
            Ok(outcome) => outcome,
            // Our own failure (database, rendering): nothing left the building, try later.
            Err(e) => {
                tracing::error!(delivery = d.id, "delivery failed before sending: {e:#}");
                Some(self.deferred(d.created_at, d.attempts, format!("erreur interne : {e}")))
            }
        }
    }

    async fn try_deliver(
        &self,
        connection: &mut Connection,
        lane: &mut Lane,
        d: &ClaimedDelivery,
        receiver: Option<Receiver>,
    ) -> anyhow::Result<Option<DeliveryOutcome>> {
        let prepared = self.prepared(d.dispatch_id).await?;
        let dispatch = &prepared.dispatch;
        let Some(receiver) = receiver else {
            return Ok(Some(DeliveryOutcome::Skipped {
                reason: "désabonné ou adresse bloquée avant l'envoi".into(),
            }));
        };
        let copy = prepared.copy_for(&self.renderer, &self.settings, &receiver.interests)?;
        let unsubscribe_url = self
            .links
            .unsubscribe(&receiver.link_key, dispatch.newsletter_id);
        let preferences_url = self.links.preferences(&receiver.link_key);
        let values = Recipient {
            name: &receiver.name,
            unsubscribe_url: &unsubscribe_url,
            preferences_url: &preferences_url,
        }
        .values();
        let to: Address = match d.email.parse() {
            Ok(a) => a,
            Err(e) => {
                return Ok(Some(DeliveryOutcome::Failed {
                    reply: format!("adresse invalide : {e}"),
                }))
            }
        };
        let bytes = copy.message(
            &message::Personal {
                to: &d.email,
                message_id: &d.message_id,
                unsubscribe_url: Some(&unsubscribe_url),
            },
            &values,
            self.settings.dkim.as_ref(),
        )?;
        // From this commit on the message may arrive: a crash leaves the row ambiguous. The
        // envelope (MAIL, RCPT, DATA) goes out meanwhile; the message itself only once the
        // mark is durable, so a crash before it leaves an unfinished transaction, which the
        // relay discards.
        let from = self.envelope_sender(d.id);
        let (marked, opened) = tokio::join!(
            lane.start_attempt(d.id, &self.owner, self.lease()),
            connection.begin(&from, &to)
        );
        // A transaction opened for a message that will not be sent waits for its data: it
        // can only be given up with the connection.
        if !matches!(marked, Ok(true)) && opened.is_ok() {
            connection.abandon();
        }
        if !marked? {
            tracing::info!(
                "attempt not started: the dispatch was paused or cancelled, or the lease lost"
            );
            return Ok(None);
        }
        let attempts = d.attempts + 1;
        let result = match opened {
            Ok(()) => connection.finish(&d.message_id, &bytes).await,
            Err(refusal) => refusal,
        };
        Ok(Some(match result {
            SendResult::Accepted(reply) => DeliveryOutcome::Sent { reply },
            SendResult::Transient(reply) => self.deferred(d.created_at, attempts, reply),
            SendResult::Ambiguous(reply) => DeliveryOutcome::Unknown { reply },
            SendResult::Permanent { reply, enhanced } => {
                // 5.1.x: the address does not exist; anything else (5.7.x policy…) is about
                // us or the message, and must not suppress the subscriber.
                if enhanced.as_deref().is_some_and(|c| c.starts_with("5.1.")) {
                    self.store.mark_bounced(d.subscriber_id).await?;
                }
                DeliveryOutcome::Failed { reply }
            }
        }))
    }

    /// A newsletter delivery's envelope sender (MAIL FROM, the Return-Path its reader's
    /// server writes): its own VERP address when `bounce_domain` is set, so that a bounce
    /// names the delivery; else the sender's address. Transactional mail keeps the latter.
    pub fn envelope_sender(&self, delivery_id: i64) -> Address {
        self.settings
            .bounce_domain
            .as_deref()
            .and_then(|domain| {
                crate::bounces::verp::address(&self.links.signer, delivery_id, domain)
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| self.settings.from.email.clone())
    }

    /// Who each claimed delivery is for, read in one go per title just before the claim is
    /// sent; a delivery missing from the map is no longer to be sent (unsubscribed,
    /// suppressed, erased).
    async fn receivers(&self, batch: &[ClaimedDelivery]) -> anyhow::Result<HashMap<i64, Receiver>> {
        let mut by_newsletter: HashMap<i64, Vec<&ClaimedDelivery>> = HashMap::new();
        for d in batch {
            // A dispatch that cannot be prepared fails its deliveries before the check.
            if let Ok(prepared) = self.prepared(d.dispatch_id).await {
                let newsletter = prepared.dispatch.newsletter_id;
                by_newsletter.entry(newsletter).or_default().push(d);
            }
        }
        let mut out = HashMap::with_capacity(batch.len());
        for (newsletter, deliveries) in by_newsletter {
            let ids: Vec<i64> = deliveries.iter().map(|d| d.subscriber_id).collect();
            let found = self.store.receivers(&ids, newsletter).await?;
            for d in deliveries {
                if let Some(r) = found.get(&d.subscriber_id) {
                    out.insert(d.id, r.clone());
                }
            }
        }
        Ok(out)
    }

    /// The next wait from the retry schedule, or failure once the delivery is too old.
    fn deferred(&self, created_at: DateTime<Utc>, attempts: i64, reply: String) -> DeliveryOutcome {
        retry_or_give_up(
            created_at,
            attempts,
            self.store.now(),
            &self.settings.retry_schedule,
            self.settings.give_up_after,
            reply,
        )
    }

    /// The dispatch and its issue, shared by every recipient.
    async fn prepared(&self, dispatch_id: i64) -> anyhow::Result<Arc<Prepared>> {
        let mut cache = self.prepared.lock().await;
        if let Some(p) = cache.get(&dispatch_id) {
            return Ok(p.clone());
        }
        let dispatch = self.store.dispatch(dispatch_id).await?;
        let view = desk::issue_view(
            &self.store,
            &self.links,
            dispatch.issue_id,
            &self.settings.masthead,
        )
        .await?;
        let newsletter = Newsletter::find(&dispatch.newsletter).context("unknown newsletter")?;
        let prepared = Arc::new(Prepared {
            dispatch,
            newsletter,
            view,
            copies: Default::default(),
        });
        cache.insert(dispatch_id, prepared.clone());
        Ok(prepared)
    }

    /// The whole MIME message of an issue for one recipient, signed when DKIM is configured.
    #[allow(clippy::too_many_arguments)]
    pub fn compose(
        &self,
        to: &str,
        subject: &str,
        message_id: &str,
        newsletter: &Newsletter,
        unsubscribe_url: &str,
        html: String,
        text: String,
    ) -> anyhow::Result<Vec<u8>> {
        let list_id = newsletter.list_id(&self.settings.mail_domain);
        Ok(message::build(
            self.settings.list_message(subject, &list_id),
            &message::Personal {
                to,
                message_id,
                unsubscribe_url: Some(unsubscribe_url),
            },
            &html,
            &text,
            self.settings.dkim.as_ref(),
        )?)
    }

    /// A Message-ID for a preview, never one of a real delivery.
    pub fn preview_message_id(&self, issue_id: i64) -> String {
        format!(
            "<relais.preview.{issue_id}.{}@{}>",
            hex::encode(rand::random::<[u8; 6]>()),
            self.settings.mail_domain
        )
    }

    /// Marks every dispatch with nothing left to try as complete (and its issue as sent).
    pub async fn finish_open_dispatches(&self) -> anyhow::Result<()> {
        for dispatch in self.store.open_dispatches().await? {
            self.finish_if_done(&dispatch).await?;
        }
        Ok(())
    }

    /// Marks the dispatch done when nothing is left to try, and drops its rendered copies.
    pub async fn finish_if_done(&self, dispatch: &DispatchRow) -> anyhow::Result<bool> {
        let done = self.store.complete_dispatch_if_done(dispatch).await?;
        if done {
            self.prepared.lock().await.remove(&dispatch.id);
        }
        Ok(done)
    }
}

/// After a temporary failure: the next attempt after the wait of the retry schedule for this
/// attempt (the last step repeats), or failure once the message is older than
/// `give_up_after`.
fn retry_or_give_up(
    created_at: DateTime<Utc>,
    attempts: i64,
    now: DateTime<Utc>,
    schedule: &[Duration],
    give_up_after: Duration,
    reply: String,
) -> DeliveryOutcome {
    let age = (now - created_at).to_std().unwrap_or_default();
    if age >= give_up_after {
        return DeliveryOutcome::Failed {
            reply: format!("abandon après {attempts} tentatives : {reply}"),
        };
    }
    let step = (attempts.max(1) as usize - 1).min(schedule.len().saturating_sub(1));
    let wait = schedule
        .get(step)
        .copied()
        .unwrap_or(Duration::from_secs(300));
    let retry_at = now + chrono::Duration::from_std(wait).unwrap_or_default();
    DeliveryOutcome::Deferred { reply, retry_at }
}

/// `relais_messages_total{ledger, outcome}`: every attempt's outcome.
fn count_outcome(ledger: &'static str, outcome: &DeliveryOutcome) {
    let outcome = match outcome {
        DeliveryOutcome::Sent { .. } => "sent",
        DeliveryOutcome::Deferred { .. } => "deferred",
        DeliveryOutcome::Failed { .. } => "failed",
        DeliveryOutcome::Unknown { .. } => "unknown",
        DeliveryOutcome::Skipped { .. } => "skipped",
    };
    metrics::counter!("relais_messages_total", "ledger" => ledger, "outcome" => outcome)
        .increment(1);
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// Where a pid means one process: the host name, and the pid namespace when it can be read
/// (two containers may share a host name, and both run as pid 1). An owner from another
/// scope is never judged dead by its pid, only by its lease.
fn process_scope() -> String {
    let namespace = std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|link| {
            link.to_string_lossy()
                .chars()
                .filter(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|n| !n.is_empty());
    match namespace {
        Some(n) => format!("{}#{n}", host_name()),
        None => host_name(),
    }
}

/// Whether a process of this host still runs (Linux: its /proc entry exists).
fn is_running(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Clock;

    #[test]
    fn temporary_failures_follow_the_schedule_then_give_up() {
        let clock = Clock::fixed(Utc::now());
        let created = clock.now();
        let schedule = [Duration::from_secs(30), Duration::from_secs(300)];
        let give_up = Duration::from_secs(3600);
        let next = |attempts: i64| match retry_or_give_up(
            created,
            attempts,
            clock.now(),
            &schedule,
            give_up,
            "451".into(),
        ) {
            DeliveryOutcome::Deferred { retry_at, .. } => Some(retry_at - clock.now()),
            _ => None,
        };
        assert_eq!(next(1), Some(chrono::Duration::seconds(30)));
        assert_eq!(next(2), Some(chrono::Duration::seconds(300)));
        assert_eq!(
            next(7),
            Some(chrono::Duration::seconds(300)),
            "the last step repeats"
        );
        clock.advance(chrono::Duration::minutes(59));
        assert!(next(8).is_some());
        clock.advance(chrono::Duration::minutes(1));
        assert_eq!(next(9), None, "an hour old: failed");
        match retry_or_give_up(
            created,
            9,
            clock.now(),
            &schedule,
            give_up,
            "451 plus tard".into(),
        ) {
            DeliveryOutcome::Failed { reply } => {
                assert_eq!(reply, "abandon après 9 tentatives : 451 plus tard")
            }
            other => panic!("{other:?}"),
        }
    }
}
