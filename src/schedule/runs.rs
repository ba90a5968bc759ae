//! Schedule runs: each due occurrence of a title's draft, reminder and send is recorded in
//! `job_runs` before anything is done, then carried out. The rules (what is due, what a run
//! does with the issue it finds) are `domain::schedule`'s; this file only records and acts.

use std::sync::OnceLock;

use anyhow::Context;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::app::App;
use crate::domain::schedule::{
    draft_verdict, due_runs, late_verdict, notice_subject, remind_verdict, send_verdict, DueRun,
    PlanInput, TitleSchedule, Verdict,
};
use crate::domain::{JobKind, JobOutcome, Newsletter, SafeUrl};
use crate::render::{MailView, OrgView};
use crate::store::JobRun;

/// When this process first ran the schedules: a kind that never ran starts counting here.
static STARTED: OnceLock<DateTime<Utc>> = OnceLock::new();

/// Runs every occurrence due now, once each, oldest first.
pub async fn run_due(app: &App) -> anyhow::Result<()> {
    if app.config.schedules.is_empty() {
        return Ok(());
    }
    let now = app.store.now();
    let since = *STARTED.get_or_init(|| now);
    let last = app.store.last_job_runs().await?;
    let last_run = |n: &str, k: JobKind| {
        last.iter()
            .filter(|(ln, lk, _)| ln == n && *lk == k)
            .map(|(_, _, at)| *at)
            .max()
    };
    let input = PlanInput {
        now,
        tz: app.config.timezone,
        lateness: chrono::Duration::from_std(app.config.schedule_lateness)?,
        since,
        last_run: &last_run,
    };
    for due in due_runs(&app.config.schedules, &input) {
        let Some(schedule) = app
            .config
            .schedules
            .iter()
            .find(|s| s.newsletter == due.newsletter)
        else {
            continue;
        };
        // Recorded first: another process, or this one after a restart, finds the row and
        // leaves the occurrence alone.
        let Some(run) = app
            .store
            .begin_job_run(due.newsletter, due.kind, due.due_at)
            .await?
        else {
            continue;
        };
        let (verdict, issue) = match carry_out(app, schedule, &due, input.lateness).await {
            Ok(done) => done,
            Err(e) => {
                tracing::error!(run, newsletter = due.newsletter, kind = %due.kind, "schedule run failed: {e:#}");
                let mut v = late_verdict(due.kind, input.lateness);
                v.detail = "erreur interne : voir le journal du service".into();
                (v, None)
            }
        };
        app.store
            .finish_job_run(run, verdict.outcome, &verdict.detail, issue)
            .await?;
        if verdict.notify {
            app.store
                .queue_schedule_notices(run, &schedule.editors, &app.config.mail_domain())
                .await?;
            app.dispatcher.wake();
        }
        metrics::counter!("relais_schedule_runs_total", "kind" => due.kind.as_str(), "outcome" => verdict.outcome.as_str())
            .increment(1);
        tracing::info!(
            run,
            newsletter = due.newsletter,
            kind = %due.kind,
            due_at = %due.due_at,
            outcome = %verdict.outcome,
            detail = verdict.detail,
            "schedule run"
        );
    }
    Ok(())
}

async fn carry_out(
    app: &App,
    schedule: &TitleSchedule,
    due: &DueRun,
    lateness: chrono::Duration,
) -> anyhow::Result<(Verdict, Option<i64>)> {
    if due.late {
        return Ok((late_verdict(due.kind, lateness), None));
    }
    if due.kind == JobKind::Draft {
        let issue = crate::desk::create_issue(
            &app.store,
            &app.config.sections,
            schedule.newsletter,
            None,
            app.today(),
        )
        .await?;
        let entries = app.store.issue_entries(issue).await?.len();
        return Ok((draft_verdict(issue, entries), Some(issue)));
    }
    let draft = app.store.scheduled_draft(schedule.newsletter).await?;
    let verdict = match due.kind {
        JobKind::Remind => remind_verdict(draft, schedule),
        _ => send_verdict(draft, schedule),
    };
    if let (JobKind::Send, true, Some(d)) = (due.kind, verdict.act, draft) {
        let (dispatch, added) = app
            .dispatcher
            .queue(d.issue, schedule.segment.as_deref())
            .await?;
        tracing::info!(
            issue = d.issue,
            dispatch = dispatch.id,
            added,
            "scheduled send queued"
        );
        app.dispatcher.wake();
    }
    Ok((verdict, draft.map(|d| d.issue)))
}

/// Checks, before the daemon runs the schedules, what `relais.toml` names in the database: each
/// schedule's segment exists and belongs to its title, each listed editor is an active staff
/// account.
pub async fn check_targets(app: &App) -> anyhow::Result<()> {
    for (i, s) in app.config.schedules.iter().enumerate() {
        let key = |k: &str| format!("relais.toml : schedule[{}].{k}", i + 1);
        if let Some(slug) = &s.segment {
            match app.store.segment(slug).await {
                Ok((_, title)) if title == s.newsletter => {}
                Ok((_, title)) => anyhow::bail!(
                    "{} : le segment « {slug} » appartient à {title}, pas à {}",
                    key("segment"),
                    s.newsletter
                ),
                Err(crate::store::StoreError::NotFound) => anyhow::bail!(
                    "{} : segment « {slug} » inconnu (relais segment add {slug} --newsletter {} …)",
                    key("segment"),
                    s.newsletter
                ),
                Err(e) => return Err(e.into()),
            }
        }
        for email in &s.editors {
            if !app.store.is_active_staff(email).await? {
                anyhow::bail!(
                    "{} : « {email} » n'est pas un compte actif de l'équipe (relais user add {email} --role editor)",
                    key("editors")
                );
            }
        }
    }
    Ok(())
}

/// The editors' notice of a run, for the mail worker.
pub fn notice_view(run: &JobRun, tz: Tz, link: SafeUrl, org: OrgView) -> MailView {
    let title = Newsletter::find(&run.newsletter).map_or(run.newsletter.as_str(), |n| n.name);
    MailView::schedule_notice(
        &notice_subject(title, run.kind, run.outcome),
        &run.detail,
        &local_time(run.due_at, tz),
        link,
        org,
    )
}

/// « 3 décembre 2026 à 09:00 », in the configured timezone.
pub fn local_time(at: DateTime<Utc>, tz: Tz) -> String {
    let local = at.with_timezone(&tz);
    format!(
        "{} à {}",
        crate::render::french_date(local.date_naive()).replace('\u{a0}', " "),
        local.format("%H:%M:%S")
    )
}

/// A line of `relais schedule` and of the desk's listing: a recorded run, or the next
/// occurrence of a kind (`pending`, not run yet).
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleLine {
    pub newsletter: String,
    pub kind: JobKind,
    pub due_at: DateTime<Utc>,
    pub ran_at: Option<DateTime<Utc>>,
    pub outcome: JobOutcome,
    pub detail: String,
    pub issue: Option<i64>,
}

/// The next occurrence of each kind of each schedule, soonest first, then the recorded runs,
/// newest first (at most `limit`).
pub async fn listing(app: &App, limit: i64) -> anyhow::Result<Vec<ScheduleLine>> {
    let now = app.store.now();
    let mut next: Vec<ScheduleLine> = app
        .config
        .schedules
        .iter()
        .flat_map(|s| {
            JobKind::ALL.iter().filter_map(move |kind| {
                let due_at = s.next_due(*kind, now, app.config.timezone)?;
                Some(ScheduleLine {
                    newsletter: s.newsletter.to_string(),
                    kind: *kind,
                    due_at,
                    ran_at: None,
                    outcome: JobOutcome::Pending,
                    detail: String::new(),
                    issue: None,
                })
            })
        })
        .collect();
    next.sort_by_key(|l| l.due_at);
    let past = app
        .store
        .job_runs(limit)
        .await
        .context("schedule runs")?
        .into_iter()
        .map(|r| ScheduleLine {
            newsletter: r.newsletter,
            kind: r.kind,
            due_at: r.due_at,
            ran_at: Some(r.ran_at),
            outcome: r.outcome,
            detail: r.detail,
            issue: r.issue_id,
        });
    next.extend(past);
    Ok(next)
}
