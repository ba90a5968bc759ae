//! Editorial schedules: when a title's draft, reminder and send are due, read in the
//! configured timezone, across clock changes and downtime, and what a run does with the issue
//! it finds. Pure: `schedule` records the runs and acts.
//!
//! Cron expressions are evaluated on the local wall clock, then placed in time: a local time
//! the spring-forward night skips runs when the clock reaches it again (02:30 → 03:00), a
//! local time the fall-back night shows twice runs the first time only.

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::{JobKind, JobOutcome};

/// How many cron occurrences one question may look at: a bound, never reached by a real
/// schedule (an expression firing every second over the widest clock change is 7,200).
const SEARCH_LIMIT: usize = 20_000;

/// A cron expression with seconds, as the `cron` crate reads it.
#[derive(Debug, Clone)]
pub struct Cron(cron::Schedule);

impl Cron {
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.trim().parse::<cron::Schedule>().map(Cron).map_err(|e| {
            format!(
                "expression cron illisible « {raw} » ({e}) : six champs attendus, secondes \
                 comprises, par exemple « 0 0 9 * * Thu » pour le jeudi à 9 h"
            )
        })
    }

    pub fn source(&self) -> &str {
        self.0.source()
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let start = floating(after.with_timezone(&tz).naive_local());
        self.0
            .after(&start)
            .take(SEARCH_LIMIT)
            .filter_map(|local| place(local.naive_utc(), tz))
            .find(|at| *at > after)
    }

    /// The newest occurrence at or before `at`.
    pub fn latest_at_or_before(&self, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        // After the clock went back, an earlier instant may show a later wall-clock time: start
        // from the later of the two readings of `at` (today's offset, or three hours ago's).
        let now_local = at.with_timezone(&tz).naive_local();
        let before_change = at.naive_utc() + offset_at(at - Duration::hours(3), tz);
        let start = now_local.max(before_change) + Duration::seconds(1);
        self.0
            .after(&floating(start))
            .rev()
            .take(SEARCH_LIMIT)
            .filter_map(|local| place(local.naive_utc(), tz))
            .find(|t| *t <= at)
    }
}

/// A wall-clock time carried as UTC so that the cron crate sees no clock change at all.
fn floating(local: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&local)
}

fn offset_at(at: DateTime<Utc>, tz: Tz) -> Duration {
    Duration::seconds(i64::from(
        at.with_timezone(&tz).offset().fix().local_minus_utc(),
    ))
}

/// Places a wall-clock time in time: the first of two readings, or, in a skipped hour, the
/// moment the clock resumes.
fn place(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    use chrono::LocalResult;
    let mut probe = local;
    for _ in 0..=24 * 60 {
        match tz.from_local_datetime(&probe) {
            LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => {
                return Some(t.with_timezone(&Utc))
            }
            LocalResult::None => {
                // Clock changes happen on a whole minute.
                probe = probe
                    .with_second(0)
                    .map(|p| p + Duration::minutes(1))
                    .unwrap_or(probe + Duration::minutes(1));
            }
        }
    }
    None
}

/// One title's schedule (`[[schedule]]` in `relais.toml`).
#[derive(Debug, Clone)]
pub struct TitleSchedule {
    pub newsletter: &'static str,
    pub draft: Cron,
    pub send: Cron,
    /// How long before the send the editors are reminded of an unapproved draft.
    pub remind: Duration,
    /// An issue with fewer entries is not sent.
    pub min_entries: usize,
    /// Sent at the send time without anyone's approval.
    pub auto_send: bool,
    /// The saved segment the issue is sent to; none: every subscriber of the title.
    pub segment: Option<String>,
    /// Who is told about this title's runs (reminders, refusals); empty: every active staff
    /// account.
    pub editors: Vec<String>,
}

impl TitleSchedule {
    /// The newest occurrence of `kind` at or before `at`.
    pub fn latest_due(&self, kind: JobKind, at: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match kind {
            JobKind::Draft => self.draft.latest_at_or_before(at, tz),
            JobKind::Send => self.send.latest_at_or_before(at, tz),
            JobKind::Remind => self
                .send
                .latest_at_or_before(at + self.remind, tz)
                .map(|send| send - self.remind),
        }
    }

    /// The first occurrence of `kind` strictly after `after`.
    pub fn next_due(&self, kind: JobKind, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        match kind {
            JobKind::Draft => self.draft.next_after(after, tz),
            JobKind::Send => self.send.next_after(after, tz),
            JobKind::Remind => self
                .send
                .next_after(after + self.remind, tz)
                .map(|send| send - self.remind),
        }
    }
}

/// An occurrence to run now. A late one (past the lateness window) is only recorded as
/// skipped, and the editors told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueRun {
    pub newsletter: &'static str,
    pub kind: JobKind,
    pub due_at: DateTime<Utc>,
    pub late: bool,
}

/// Where the planner stands: the clock, and what already ran.
pub struct PlanInput<'a> {
    pub now: DateTime<Utc>,
    pub tz: Tz,
    pub lateness: Duration,
    /// Where a kind that never ran starts counting (the scheduler's start): a new schedule
    /// catches up on nothing from before it existed.
    pub since: DateTime<Utc>,
    /// The newest recorded occurrence of (title, kind).
    pub last_run: &'a (dyn Fn(&str, JobKind) -> Option<DateTime<Utc>> + Sync),
}

/// The runs due now, oldest first (a draft before the send it precedes). Only the newest
/// occurrence of each kind since its last run counts: after downtime a run happens once, or
/// is recorded late, never a burst of stale ones.
pub fn due_runs(schedules: &[TitleSchedule], input: &PlanInput<'_>) -> Vec<DueRun> {
    let mut due = Vec::new();
    for s in schedules {
        for kind in JobKind::ALL.iter().copied() {
            let floor = (input.last_run)(s.newsletter, kind).unwrap_or(input.since);
            let Some(at) = s.latest_due(kind, input.now, input.tz) else {
                continue;
            };
            if at > floor {
                due.push(DueRun {
                    newsletter: s.newsletter,
                    kind,
                    due_at: at,
                    late: input.now - at > input.lateness,
                });
            }
        }
    }
    due.sort_by_key(|r| (r.due_at, kind_order(r.kind)));
    due
}

fn kind_order(kind: JobKind) -> u8 {
    match kind {
        JobKind::Draft => 0,
        JobKind::Remind => 1,
        JobKind::Send => 2,
    }
}

/// The issue a reminder or a send finds: the one the title's last draft run created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DraftState {
    pub issue: i64,
    /// Still a draft or approved (not sending, not sent).
    pub open: bool,
    pub approved: bool,
    pub entries: usize,
}

/// What a run decided: its outcome, whether it acts (creates, mails, sends), whether the
/// editors are told, and why, in French for the listing and the notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: JobOutcome,
    pub act: bool,
    pub notify: bool,
    pub detail: String,
}

impl Verdict {
    fn new(outcome: JobOutcome, act: bool, notify: bool, detail: String) -> Self {
        Self {
            outcome,
            act,
            notify,
            detail,
        }
    }
}

/// A run past the lateness window: recorded, not carried out, the editors told.
pub fn late_verdict(kind: JobKind, lateness: Duration) -> Verdict {
    let what = match kind {
        JobKind::Draft => "le brouillon n'a pas été créé",
        JobKind::Remind => "le rappel n'a pas été envoyé",
        JobKind::Send => "le numéro n'a pas été envoyé",
    };
    Verdict::new(
        JobOutcome::Skipped,
        false,
        true,
        format!(
            "échéance manquée de plus de {} h (service arrêté) : {what}",
            lateness.num_hours()
        ),
    )
}

/// A draft made: the issue created, with its entries.
pub fn draft_verdict(issue: i64, entries: usize) -> Verdict {
    Verdict::new(
        JobOutcome::Done,
        true,
        false,
        format!("numéro {issue} créé avec {entries} entrée(s)"),
    )
}

/// A reminder mails the editors while the draft awaits approval.
pub fn remind_verdict(draft: Option<DraftState>, s: &TitleSchedule) -> Verdict {
    let skipped = |detail: String| Verdict::new(JobOutcome::Skipped, false, false, detail);
    match draft {
        None => skipped("aucun brouillon programmé à rappeler".into()),
        Some(d) if !d.open => skipped(format!("le numéro {} est déjà parti", d.issue)),
        Some(d) if d.approved => skipped(format!("le numéro {} est validé", d.issue)),
        Some(d) if s.auto_send => skipped(format!(
            "le numéro {} partira sans validation (envoi automatique)",
            d.issue
        )),
        Some(d) => Verdict::new(
            JobOutcome::Done,
            true,
            true,
            format!(
                "le numéro {} ({} entrée(s)) attend sa validation avant l'envoi",
                d.issue, d.entries
            ),
        ),
    }
}

/// At the send time: the approved issue (any issue with `auto_send`) goes out; an unapproved
/// one is refused, one with too few entries skipped, and the editors told of either.
pub fn send_verdict(draft: Option<DraftState>, s: &TitleSchedule) -> Verdict {
    match draft {
        None => Verdict::new(
            JobOutcome::Skipped,
            false,
            true,
            "aucun brouillon programmé à envoyer".into(),
        ),
        Some(d) if !d.open => Verdict::new(
            JobOutcome::Skipped,
            false,
            false,
            format!("le numéro {} est déjà parti", d.issue),
        ),
        Some(d) if d.entries < s.min_entries => Verdict::new(
            JobOutcome::Skipped,
            false,
            true,
            format!(
                "le numéro {} n'a que {} entrée(s), il en faut {} : il n'est pas envoyé",
                d.issue, d.entries, s.min_entries
            ),
        ),
        Some(d) if d.approved || s.auto_send => Verdict::new(
            JobOutcome::Done,
            true,
            false,
            format!("le numéro {} est envoyé", d.issue),
        ),
        Some(d) => Verdict::new(
            JobOutcome::Refused,
            false,
            true,
            format!(
                "le numéro {} n'est pas validé : il n'est pas envoyé",
                d.issue
            ),
        ),
    }
}

/// The subject of the editors' notice about a run.
pub fn notice_subject(title: &str, kind: JobKind, outcome: JobOutcome) -> String {
    match (kind, outcome) {
        (JobKind::Remind, JobOutcome::Done) => {
            format!("{title} : un numéro attend votre validation")
        }
        (JobKind::Send, JobOutcome::Refused) => format!("{title} : numéro non validé, non envoyé"),
        (JobKind::Send, _) => format!("{title} : envoi programmé non fait"),
        (JobKind::Draft, _) => format!("{title} : brouillon programmé non créé"),
        (JobKind::Remind, _) => format!("{title} : rappel programmé non envoyé"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARIS: Tz = chrono_tz::Europe::Paris;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn schedule(draft: &str, send: &str) -> TitleSchedule {
        TitleSchedule {
            newsletter: "coopdev-info",
            draft: Cron::parse(draft).unwrap(),
            send: Cron::parse(send).unwrap(),
            remind: Duration::hours(24),
            min_entries: 1,
            auto_send: false,
            segment: None,
            editors: Vec::new(),
        }
    }

    /// The runs a scheduler ticking every minute from `from` to `to` would make, feeding back
    /// what it recorded.
    fn simulate(s: &TitleSchedule, from: &str, to: &str) -> Vec<DueRun> {
        let (mut now, end) = (utc(from), utc(to));
        let mut recorded: Vec<DueRun> = Vec::new();
        while now <= end {
            let last = |n: &str, k: JobKind| {
                recorded
                    .iter()
                    .filter(|r| r.newsletter == n && r.kind == k)
                    .map(|r| r.due_at)
                    .max()
            };
            let input = PlanInput {
                now,
                tz: PARIS,
                lateness: Duration::hours(6),
                since: utc(from),
                last_run: &last,
            };
            let due = due_runs(std::slice::from_ref(s), &input);
            recorded.extend(due);
            now += Duration::minutes(1);
        }
        recorded
    }

    fn sends(runs: &[DueRun]) -> Vec<DateTime<Utc>> {
        runs.iter()
            .filter(|r| r.kind == JobKind::Send)
            .map(|r| r.due_at)
            .collect()
    }

    #[test]
    fn a_cron_expression_without_seconds_is_refused_in_french() {
        let e = Cron::parse("0 9 * * Thu").unwrap_err();
        assert!(e.contains("expression cron illisible"), "{e}");
        assert!(Cron::parse("0 0 9 * * Thu").is_ok());
    }

    #[test]
    fn a_weekly_send_falls_on_the_local_time_winter_and_summer() {
        let s = schedule("0 0 9 * * Mon", "0 0 9 * * Thu");
        // Thursday 3 December 2026, 9:00 in Paris is 8:00 UTC; 2 July, 7:00 UTC.
        assert_eq!(
            s.next_due(JobKind::Send, utc("2026-11-30T12:00:00Z"), PARIS),
            Some(utc("2026-12-03T08:00:00Z"))
        );
        assert_eq!(
            s.next_due(JobKind::Send, utc("2026-06-29T12:00:00Z"), PARIS),
            Some(utc("2026-07-02T07:00:00Z"))
        );
        assert_eq!(
            s.next_due(JobKind::Remind, utc("2026-11-30T12:00:00Z"), PARIS),
            Some(utc("2026-12-02T08:00:00Z"))
        );
    }

    #[test]
    fn on_the_spring_forward_night_a_0230_run_happens_once_at_0300() {
        // Sunday 29 March 2026: at 02:00 Paris clocks jump to 03:00 (01:00 UTC).
        let s = schedule("0 0 1 1 * *", "0 30 2 * * *");
        let runs = simulate(&s, "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z");
        assert_eq!(sends(&runs), vec![utc("2026-03-29T01:00:00Z")]);
        assert_eq!(
            utc("2026-03-29T01:00:00Z")
                .with_timezone(&PARIS)
                .format("%H:%M")
                .to_string(),
            "03:00"
        );
        assert!(runs.iter().all(|r| !r.late));
    }

    #[test]
    fn on_the_fall_back_night_a_0230_run_happens_once() {
        // Sunday 25 October 2026: 02:00–03:00 Paris is lived twice (00:00–01:00 UTC in
        // summer time, then 01:00–02:00 UTC in winter time).
        let s = schedule("0 0 1 1 * *", "0 30 2 * * *");
        let runs = simulate(&s, "2026-10-24T12:00:00Z", "2026-10-25T12:00:00Z");
        assert_eq!(sends(&runs), vec![utc("2026-10-25T00:30:00Z")]);
        // Every minute of the night, a 30-minute schedule still runs at most once per slot.
        let s = schedule("0 0 1 1 * *", "0 0/30 * * * *");
        let runs = simulate(&s, "2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z");
        let times = sends(&runs);
        let mut unique = times.clone();
        unique.dedup();
        assert_eq!(times, unique);
        assert!(times.contains(&utc("2026-10-25T00:30:00Z")));
        assert!(!times.contains(&utc("2026-10-25T01:30:00Z")));
    }

    #[test]
    fn a_run_missed_during_downtime_happens_once_within_the_window() {
        let s = schedule("0 0 9 * * Mon", "0 0 9 * * Thu");
        // Last send recorded a week ago; the daemon was down on Thursday 9:00, back at 11:00.
        let last = |_: &str, k: JobKind| {
            Some(match k {
                JobKind::Send => utc("2026-11-26T08:00:00Z"),
                _ => utc("2026-12-03T08:00:00Z") - Duration::hours(24),
            })
        };
        let input = PlanInput {
            now: utc("2026-12-03T10:00:00Z"),
            tz: PARIS,
            lateness: Duration::hours(6),
            since: utc("2026-01-01T00:00:00Z"),
            last_run: &last,
        };
        let due = due_runs(&[s], &input);
        assert_eq!(
            due,
            vec![DueRun {
                newsletter: "coopdev-info",
                kind: JobKind::Send,
                due_at: utc("2026-12-03T08:00:00Z"),
                late: false,
            }]
        );
    }

    #[test]
    fn a_run_missed_past_the_window_is_recorded_late_and_stale_ones_are_forgotten() {
        // Sent every day at 9:00; down for three weeks, back at 20:00.
        let s = schedule("0 0 8 * * *", "0 0 9 * * *");
        let last = |_: &str, _: JobKind| Some(utc("2026-11-01T08:00:00Z"));
        let input = PlanInput {
            now: utc("2026-11-22T19:00:00Z"),
            tz: PARIS,
            lateness: Duration::hours(6),
            since: utc("2026-01-01T00:00:00Z"),
            last_run: &last,
        };
        let due = due_runs(std::slice::from_ref(&s), &input);
        let kinds: Vec<_> = due.iter().map(|r| (r.kind, r.late)).collect();
        // One of each kind, the newest: draft (7:00 UTC) and send (8:00 UTC) today, late; the
        // reminder of tomorrow's send (24 h before) is today at 8:00 UTC too.
        assert_eq!(
            kinds,
            vec![
                (JobKind::Draft, true),
                (JobKind::Remind, true),
                (JobKind::Send, true)
            ]
        );
        assert!(due.iter().all(|r| r.due_at > utc("2026-11-22T00:00:00Z")));
        let v = late_verdict(JobKind::Send, Duration::hours(6));
        assert_eq!(
            (v.outcome, v.act, v.notify),
            (JobOutcome::Skipped, false, true)
        );
    }

    #[test]
    fn a_new_schedule_catches_up_on_nothing_from_before_it_started() {
        let s = schedule("0 0 8 * * *", "0 0 9 * * *");
        let none = |_: &str, _: JobKind| None;
        let input = PlanInput {
            now: utc("2026-11-22T19:00:00Z"),
            tz: PARIS,
            lateness: Duration::hours(6),
            since: utc("2026-11-22T18:59:00Z"),
            last_run: &none,
        };
        assert!(due_runs(&[s], &input).is_empty());
    }

    fn draft(approved: bool, entries: usize) -> Option<DraftState> {
        Some(DraftState {
            issue: 7,
            open: true,
            approved,
            entries,
        })
    }

    #[test]
    fn only_an_approved_issue_is_sent_and_a_refusal_is_told() {
        let s = schedule("0 0 8 * * *", "0 0 9 * * *");
        let v = send_verdict(draft(true, 3), &s);
        assert_eq!(
            (v.outcome, v.act, v.notify),
            (JobOutcome::Done, true, false)
        );
        let v = send_verdict(draft(false, 3), &s);
        assert_eq!(
            (v.outcome, v.act, v.notify),
            (JobOutcome::Refused, false, true)
        );
        assert!(v.detail.contains("pas validé"), "{}", v.detail);
        let sent = Some(DraftState {
            open: false,
            ..draft(true, 3).unwrap()
        });
        assert!(!send_verdict(sent, &s).act);
        let v = send_verdict(None, &s);
        assert_eq!((v.outcome, v.notify), (JobOutcome::Skipped, true));
    }

    #[test]
    fn the_reminder_goes_only_while_the_draft_awaits_approval() {
        let s = schedule("0 0 8 * * *", "0 0 9 * * *");
        let v = remind_verdict(draft(false, 2), &s);
        assert_eq!((v.outcome, v.act, v.notify), (JobOutcome::Done, true, true));
        let v = remind_verdict(draft(true, 2), &s);
        assert_eq!((v.outcome, v.act), (JobOutcome::Skipped, false));
        let auto = TitleSchedule {
            auto_send: true,
            ..s
        };
        assert!(!remind_verdict(draft(false, 2), &auto).act);
    }

    #[test]
    fn an_issue_with_too_few_entries_is_skipped_and_told() {
        let s = TitleSchedule {
            min_entries: 3,
            ..schedule("0 0 8 * * *", "0 0 9 * * *")
        };
        let v = send_verdict(draft(true, 2), &s);
        assert_eq!(
            (v.outcome, v.act, v.notify),
            (JobOutcome::Skipped, false, true)
        );
        let v = send_verdict(
            draft(false, 0),
            &TitleSchedule {
                min_entries: 1,
                ..s
            },
        );
        assert_eq!(v.outcome, JobOutcome::Skipped);
    }

    #[test]
    fn auto_send_sends_without_approval() {
        let s = TitleSchedule {
            auto_send: true,
            ..schedule("0 0 8 * * *", "0 0 9 * * *")
        };
        let v = send_verdict(draft(false, 1), &s);
        assert_eq!((v.outcome, v.act), (JobOutcome::Done, true));
    }
}
