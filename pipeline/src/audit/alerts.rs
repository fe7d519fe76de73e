//! Alert rules over a verified audit log (`docs/FORMAT.md` §16.4).
//!
//! | level | what | response |
//! | --- | --- | --- |
//! | low | a key signs far more in a day than its history, or at an hour it rarely signs | investigate |
//! | medium | repeated failed unlocks or failed verifications for a key | the key is suspended until `otaseal keys resume` |
//! | high | a key is marked compromised | rotate now (the key is also suspended) |
//! | critical | the root is marked compromised, or an active exploit is reported | replace all keys |
//!
//! Events before a key's latest `resume` do not count towards its medium
//! and high alerts, so resuming a key after an investigation sticks.

use super::{Entry, Outcome};
use crate::keys::KeyId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Alert levels, ordered by severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// What operators do at this level (the runbook in docs/OPERATIONS.md).
    pub fn response(self) -> &'static str {
        match self {
            Self::Low => "investigate",
            Self::Medium => "key suspended: investigate, then `otaseal keys resume`",
            Self::High => "rotate now: `otaseal keys rotate`, then `otaseal revoke` the key",
            Self::Critical => {
                "replace all keys: new root, `otaseal root rotate`, re-issue every certificate"
            }
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Largest rules file read: the eight thresholds fit in a few hundred bytes.
pub const MAX_RULES_LEN: u64 = 64 * 1024;

/// Thresholds, loadable from a JSON rules file (every field optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// Low: a UTC day's signatures by a key exceed this factor times the
    /// median of its earlier signing days...
    pub volume_factor: f64,
    /// ...once it has at least this many earlier signing days...
    pub volume_min_history_days: usize,
    /// ...and the day has at least this many signatures.
    pub volume_min_count: u64,
    /// Low: a signature at a UTC hour that holds less than this fraction of
    /// the key's earlier signatures...
    pub hour_rare_fraction: f64,
    /// ...once the key has at least this many earlier signatures.
    pub hour_min_history: u64,
    /// Medium: this many failed unlocks of one key within the window.
    pub failed_unlocks: u64,
    /// Medium: this many failed verifications of one key within the window.
    pub failed_verifications: u64,
    pub failure_window_seconds: u64,
}

impl Default for Rules {
    fn default() -> Self {
        Self {
            volume_factor: 4.0,
            volume_min_history_days: 3,
            volume_min_count: 20,
            hour_rare_fraction: 0.01,
            hour_min_history: 50,
            failed_unlocks: 3,
            failed_verifications: 5,
            failure_window_seconds: 3600,
        }
    }
}

impl Rules {
    /// Checks that the thresholds make sense.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.volume_factor.is_finite() && self.volume_factor >= 1.0) {
            return Err("volume_factor must be a number >= 1".into());
        }
        if !(self.hour_rare_fraction.is_finite() && (0.0..1.0).contains(&self.hour_rare_fraction)) {
            return Err("hour_rare_fraction must be in [0, 1)".into());
        }
        // The volume rule compares a day with the median of the days before
        // it: with no earlier day there is no median to compare with.
        if self.volume_min_history_days == 0 {
            return Err("volume_min_history_days must be at least 1".into());
        }
        if self.failed_unlocks == 0 || self.failed_verifications == 0 {
            return Err("failure thresholds must be at least 1".into());
        }
        if self.failure_window_seconds == 0 {
            return Err("failure_window_seconds must be at least 1".into());
        }
        Ok(())
    }
}

/// One alert raised by a rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub level: Level,
    pub rule: &'static str,
    /// The key concerned, if the rule is about one key.
    #[serde(serialize_with = "ser_key")]
    pub key: Option<KeyId>,
    /// The log line (1-based) that triggered the alert.
    pub line: u64,
    pub ts: u64,
    pub message: String,
    pub response: &'static str,
}

fn ser_key<S: serde::Serializer>(k: &Option<KeyId>, s: S) -> Result<S::Ok, S::Error> {
    match k {
        Some(k) => s.serialize_str(&k.to_string()),
        None => s.serialize_none(),
    }
}

impl Alert {
    /// Whether the response to this alert is to suspend its key.
    pub fn suspends(&self) -> bool {
        matches!(self.level, Level::Medium | Level::High) && self.key.is_some()
    }
}

const DAY: u64 = 86_400;

/// Applies `rules` to verified `entries` (oldest first).
pub fn evaluate(entries: &[Entry], rules: &Rules) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let mut last_resume: HashMap<KeyId, u64> = HashMap::new();
    for e in entries {
        if e.op == "resume"
            && let Some(k) = e.key_id()
        {
            last_resume.insert(k, e.seq);
        }
    }
    let after_resume =
        |k: &KeyId, seq: u64| last_resume.get(k).is_none_or(|resumed| seq > *resumed);

    signing_patterns(entries, rules, &mut alerts);

    // Medium: failures within a sliding window, per key and kind.
    let mut failures: HashMap<(KeyId, &'static str), Vec<(u64, u64)>> = HashMap::new();
    for e in entries {
        let kind = match e.op.as_str() {
            "unlock" => "failed-unlocks",
            "verify" => "failed-verifications",
            _ => continue,
        };
        let Some(k) = e.key_id() else { continue };
        if e.outcome != Outcome::Failed || !after_resume(&k, e.seq) {
            continue;
        }
        let threshold = if kind == "failed-unlocks" {
            rules.failed_unlocks
        } else {
            rules.failed_verifications
        };
        let window = failures.entry((k, kind)).or_default();
        window.push((e.ts, e.seq));
        window.retain(|(ts, _)| e.ts.saturating_sub(*ts) < rules.failure_window_seconds);
        if window.len() as u64 == threshold {
            alerts.push(Alert {
                level: Level::Medium,
                rule: kind,
                key: Some(k),
                line: e.seq,
                ts: e.ts,
                message: format!(
                    "{threshold} {} of key {k} within {} s",
                    kind.replace('-', " "),
                    rules.failure_window_seconds
                ),
                response: Level::Medium.response(),
            });
        }
    }

    // High and critical: operator reports.
    for e in entries {
        let (level, rule, message) = match e.op.as_str() {
            "compromised" => (
                Level::High,
                "key-compromised",
                format!("key {} marked compromised", e.key.as_deref().unwrap_or("?")),
            ),
            "root_compromised" => (
                Level::Critical,
                "root-compromised",
                format!(
                    "root {} marked compromised",
                    e.key.as_deref().unwrap_or("?")
                ),
            ),
            "exploit" => (
                Level::Critical,
                "active-exploit",
                "active exploit reported".to_owned(),
            ),
            _ => continue,
        };
        let key = e.key_id();
        if level == Level::High && key.is_some_and(|k| !after_resume(&k, e.seq)) {
            continue;
        }
        let note = e
            .detail
            .get("note")
            .and_then(|v| v.as_str())
            .map(|n| format!(": {n}"))
            .unwrap_or_default();
        alerts.push(Alert {
            level,
            rule,
            key,
            line: e.seq,
            ts: e.ts,
            message: format!("{message}{note}"),
            response: level.response(),
        });
    }
    alerts.sort_by_key(|a| (a.line, a.level));
    alerts
}

/// Low: volume and hour-of-day anomalies in successful signatures.
fn signing_patterns(entries: &[Entry], rules: &Rules, alerts: &mut Vec<Alert>) {
    struct KeyHistory {
        days: BTreeMap<u64, (u64, u64)>, // day -> (count, last seq)
        hours: [u64; 24],
        total: u64,
        flagged_hours: Vec<(u64, u64)>, // (day, hour) already flagged
    }
    let mut keys: HashMap<KeyId, KeyHistory> = HashMap::new();
    for e in entries {
        if e.op != "sign" || e.outcome != Outcome::Ok {
            continue;
        }
        let Some(k) = e.key_id() else { continue };
        let h = keys.entry(k).or_insert_with(|| KeyHistory {
            days: BTreeMap::new(),
            hours: [0; 24],
            total: 0,
            flagged_hours: Vec::new(),
        });
        let (day, hour) = (e.ts / DAY, (e.ts % DAY) / 3600);
        if h.total >= rules.hour_min_history
            && (h.hours[hour as usize] as f64) < rules.hour_rare_fraction * h.total as f64
            && !h.flagged_hours.contains(&(day, hour))
        {
            h.flagged_hours.push((day, hour));
            alerts.push(Alert {
                level: Level::Low,
                rule: "unusual-hour",
                key: Some(k),
                line: e.seq,
                ts: e.ts,
                message: format!(
                    "key {k} signed at {hour:02}:00 UTC; {} of its {} earlier signatures were at that hour",
                    h.hours[hour as usize], h.total
                ),
                response: Level::Low.response(),
            });
        }
        h.hours[hour as usize] += 1;
        h.total += 1;
        let d = h.days.entry(day).or_insert((0, 0));
        d.0 += 1;
        d.1 = e.seq;
    }
    for (k, h) in &keys {
        let days: Vec<(u64, (u64, u64))> = h.days.iter().map(|(d, v)| (*d, *v)).collect();
        for (i, (day, (count, last_seq))) in days.iter().enumerate() {
            if i < rules.volume_min_history_days || *count < rules.volume_min_count {
                continue;
            }
            let mut earlier: Vec<u64> = days[..i].iter().map(|(_, (c, _))| *c).collect();
            earlier.sort_unstable();
            // `validate` refuses a zero history; stay total without it.
            let Some(median) = earlier.get(earlier.len() / 2).map(|m| *m as f64) else {
                continue;
            };
            if *count as f64 > rules.volume_factor * median {
                alerts.push(Alert {
                    level: Level::Low,
                    rule: "signing-volume",
                    key: Some(*k),
                    line: *last_seq,
                    ts: day * DAY,
                    message: format!(
                        "key {k} made {count} signatures on day {day} (UTC); its median over {} earlier signing days is {median}",
                        earlier.len()
                    ),
                    response: Level::Low.response(),
                });
            }
        }
    }
}

/// The highest level among `alerts`, if any.
pub fn highest(alerts: &[Alert]) -> Option<Level> {
    alerts.iter().map(|a| a.level).max()
}

#[cfg(test)]
mod tests {
    use super::super::{AuditLog, Event, Op, read_verified};
    use super::*;

    const T0: u64 = 1_700_006_400; // a midnight UTC (1700006400 % 86400 == 0)

    fn log_of(events: &[(Event, u64)]) -> Vec<Entry> {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("a.log"));
        for (e, ts) in events {
            log.append_at(e, *ts).unwrap();
        }
        read_verified(log.path()).unwrap().0
    }

    #[test]
    fn quiet_log_raises_nothing() {
        assert_eq!(T0 % DAY, 0);
        let k = KeyId([1; 16]);
        let events: Vec<_> = (0..200)
            .map(|i| (Event::ok(Op::Sign, k), T0 + (i / 40) * DAY + 10 * 3600 + i))
            .collect();
        let alerts = evaluate(&log_of(&events), &Rules::default());
        assert!(alerts.is_empty(), "{alerts:?}");
    }

    #[test]
    fn volume_and_hour_anomalies_are_low() {
        let k = KeyId([1; 16]);
        let mut events: Vec<_> = (0..120)
            .map(|i| (Event::ok(Op::Sign, k), T0 + (i / 30) * DAY + 10 * 3600 + i))
            .collect();
        // Day 4: 200 signatures at 03:00 UTC.
        events.extend((0..200).map(|i| (Event::ok(Op::Sign, k), T0 + 4 * DAY + 3 * 3600 + i)));
        let alerts = evaluate(&log_of(&events), &Rules::default());
        let rules: Vec<_> = alerts.iter().map(|a| (a.level, a.rule)).collect();
        assert!(rules.contains(&(Level::Low, "signing-volume")), "{rules:?}");
        assert!(rules.contains(&(Level::Low, "unusual-hour")), "{rules:?}");
        assert_eq!(highest(&alerts), Some(Level::Low));
        // A looser volume threshold silences the volume rule.
        let loose = Rules {
            volume_factor: 100.0,
            ..Rules::default()
        };
        assert!(
            !evaluate(&log_of(&events), &loose)
                .iter()
                .any(|a| a.rule == "signing-volume")
        );
    }

    #[test]
    fn failed_unlocks_are_medium_until_resumed() {
        let k = KeyId([2; 16]);
        let fail = || Event::new(Op::Unlock, Some(k), Outcome::Failed);
        let mut events = vec![(fail(), T0), (fail(), T0 + 10), (fail(), T0 + 20)];
        let alerts = evaluate(&log_of(&events), &Rules::default());
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].level, Level::Medium);
        assert!(alerts[0].suspends());
        events.push((Event::ok(Op::Resume, k), T0 + 30));
        assert!(evaluate(&log_of(&events), &Rules::default()).is_empty());
        // Failures spread beyond the window do not count.
        let spread = vec![(fail(), T0), (fail(), T0 + 4000), (fail(), T0 + 8000)];
        assert!(evaluate(&log_of(&spread), &Rules::default()).is_empty());
    }

    #[test]
    fn reports_are_high_and_critical() {
        let k = KeyId([3; 16]);
        let events = vec![
            (
                Event::ok(Op::Compromised, k).detail("note", "laptop stolen"),
                T0,
            ),
            (Event::ok(Op::RootCompromised, KeyId([4; 16])), T0 + 1),
        ];
        let alerts = evaluate(&log_of(&events), &Rules::default());
        assert_eq!(alerts[0].level, Level::High);
        assert!(alerts[0].message.contains("laptop stolen"));
        assert_eq!(alerts[1].level, Level::Critical);
        assert_eq!(highest(&alerts), Some(Level::Critical));
    }

    /// Rule values at their extremes (0 and huge) on a log that exercises
    /// every rule: signatures on several days (the first day busy enough to
    /// reach `volume_min_count`), failed unlocks and verifications.
    fn busy_log() -> Vec<Entry> {
        let k = KeyId([5; 16]);
        let mut events: Vec<_> = (0..100)
            .map(|i| {
                (
                    Event::ok(Op::Sign, k),
                    T0 + (i / 25) * DAY + 3600 * (i % 24),
                )
            })
            .collect();
        for i in 0..4 {
            events.push((Event::new(Op::Unlock, Some(k), Outcome::Failed), T0 + i));
            events.push((Event::new(Op::Verify, Some(k), Outcome::Failed), T0 + i));
        }
        log_of(&events)
    }

    #[test]
    fn zero_history_days_is_refused_and_never_panics() {
        // `volume_min_history_days: 0` once indexed the median of an empty
        // history (index out of bounds).
        let zero = Rules {
            volume_min_history_days: 0,
            volume_min_count: 1,
            ..Rules::default()
        };
        assert!(zero.validate().is_err());
        // Even unvalidated, evaluation is total.
        let _ = evaluate(&busy_log(), &zero);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the thresholds, evaluating never panics.
        #[test]
        fn any_rule_values_never_panic(
            volume_factor in proptest::prop_oneof![proptest::prelude::Just(0.0), proptest::prelude::Just(1.0), proptest::prelude::Just(f64::MAX), 0.0..1e6f64],
            days in proptest::prop_oneof![proptest::prelude::Just(0usize), proptest::prelude::Just(usize::MAX), 0usize..10],
            count in proptest::prop_oneof![proptest::prelude::Just(0u64), proptest::prelude::Just(u64::MAX), 0u64..50],
            fraction in proptest::prop_oneof![proptest::prelude::Just(0.0), proptest::prelude::Just(0.999_999), 0.0..1.0f64],
            hour_min in proptest::prop_oneof![proptest::prelude::Just(0u64), proptest::prelude::Just(u64::MAX), 0u64..200],
            fails in proptest::prop_oneof![proptest::prelude::Just(0u64), proptest::prelude::Just(u64::MAX), 0u64..6],
            window in proptest::prop_oneof![proptest::prelude::Just(0u64), proptest::prelude::Just(u64::MAX), 0u64..10_000],
        ) {
            let rules = Rules {
                volume_factor,
                volume_min_history_days: days,
                volume_min_count: count,
                hour_rare_fraction: fraction,
                hour_min_history: hour_min,
                failed_unlocks: fails,
                failed_verifications: fails,
                failure_window_seconds: window,
            };
            let _ = rules.validate();
            let _ = evaluate(&BUSY.with(|b| b.clone()), &rules);
        }
    }

    thread_local! {
        static BUSY: Vec<Entry> = busy_log();
    }

    #[test]
    fn rules_validate() {
        assert!(Rules::default().validate().is_ok());
        let bad = Rules {
            volume_factor: f64::NAN,
            ..Rules::default()
        };
        assert!(bad.validate().is_err());
        let parsed: Rules = serde_json::from_str(r#"{"failed_unlocks": 5}"#).unwrap();
        assert_eq!(parsed.failed_unlocks, 5);
        assert!(serde_json::from_str::<Rules>(r#"{"nope": 1}"#).is_err());
    }
}
