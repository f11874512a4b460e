//! Exponential backoff after failed password checks and failed `auth` (CONTRACT.md §11),
//! counted in PostgreSQL so that every broker of the database sees the same counts.

use crate::error::BrokerError;
use crate::store::{Failures, Store};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// What the backoff counts failures of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackoffKey {
    /// Password checks of one login from one IP.
    LoginAtIp(String, IpAddr),
    /// Password checks of any login from one IP.
    PasswordIp(IpAddr),
    /// `auth` attempts from one IP.
    AuthIp(IpAddr),
}

impl BackoffKey {
    /// The key as stored: a kind, then the IP, then the login (which holds no space).
    pub fn stored(&self) -> String {
        match self {
            BackoffKey::LoginAtIp(login, ip) => format!("pw_login {ip} {login}"),
            BackoffKey::PasswordIp(ip) => format!("pw_ip {ip}"),
            BackoffKey::AuthIp(ip) => format!("auth_ip {ip}"),
        }
    }
}

/// What a verdict does to its key's count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A failure: counted, and past the free attempts the key is blocked.
    Failed,
    /// A success: the key's failures are forgotten.
    Succeeded,
    /// Neither (the per-IP key of a successful password check).
    Uncounted,
}

/// The backoff's numbers: after `free` failures, each further failure blocks the key for
/// 1 s, 2 s, 4 s, … up to `max`; failures are forgotten after a quiet spell of `2 × max`.
#[derive(Debug, Clone, Copy)]
pub struct BackoffRules {
    /// Failures allowed before the first block.
    pub free: u32,
    /// The longest block.
    pub max: Duration,
}

impl BackoffRules {
    /// How long `state` is still blocked at `now`.
    pub fn wait(state: &Failures, now: SystemTime) -> Option<Duration> {
        state.blocked_until.and_then(|until| until.duration_since(now).ok()).filter(|wait| !wait.is_zero())
    }

    /// Judges the verdicts of one attempt begun at `began`, one per key state, atomically.
    /// If any key is blocked, or became blocked while the attempt ran (even if that block
    /// is over), none is counted and the longest remaining wait is returned (the caller
    /// answers `rate_limited`, right or wrong); otherwise each state takes its verdict.
    /// Judging under the keys' locks is what keeps guesses sent at once, to any brokers,
    /// from learning more verdicts than the free attempts.
    pub fn judge(
        &self,
        states: &mut [Option<Failures>],
        verdicts: &[Verdict],
        began: SystemTime,
        now: SystemTime,
    ) -> Result<(), Duration> {
        let refused = |state: &Option<Failures>| {
            let state = state.as_ref()?;
            let blocked_meanwhile = state.blocked_at.is_some_and(|at| at > began);
            Self::wait(state, now).or(blocked_meanwhile.then_some(Duration::ZERO))
        };
        if let Some(wait) = states.iter().filter_map(refused).max() {
            return Err(wait);
        }
        for (state, verdict) in states.iter_mut().zip(verdicts) {
            *state = self.count(*state, *verdict, now);
        }
        Ok(())
    }

    fn count(&self, state: Option<Failures>, verdict: Verdict, now: SystemTime) -> Option<Failures> {
        match verdict {
            Verdict::Failed => {
                let fresh = Failures { count: 0, blocked_until: None, blocked_at: None, last_failure: now };
                let mut state = state.unwrap_or(fresh);
                // A shared IP that once failed is not kept on a hair trigger for ever.
                if now.duration_since(state.last_failure).unwrap_or_default() > self.max * 2 {
                    state.count = 0;
                }
                state.count = state.count.saturating_add(1);
                state.last_failure = now;
                let free = i32::try_from(self.free).unwrap_or(i32::MAX);
                if state.count >= free {
                    let doublings = (state.count - free).min(20) as u32;
                    let block = Duration::from_secs(1).saturating_mul(1 << doublings).min(self.max);
                    state.blocked_until = Some(now + block);
                    state.blocked_at = Some(now);
                }
                Some(state)
            }
            Verdict::Succeeded => state.map(|s| Failures { count: 0, blocked_until: None, ..s }),
            Verdict::Uncounted => state,
        }
    }
}

/// The cluster-wide backoff: [`BackoffRules`] over the failures stored in PostgreSQL.
#[derive(Clone)]
pub struct Backoff {
    store: Store,
    rules: BackoffRules,
}

/// An attempt begun while none of its keys was blocked; dropped without a verdict (the
/// database was down, the request was cancelled), it counts neither way.
#[derive(Debug)]
#[must_use = "an attempt is judged or dropped"]
pub struct Attempt {
    keys: Vec<BackoffKey>,
    began: SystemTime,
}

impl Backoff {
    /// A backoff with these rules over `store`'s failures.
    pub fn new(store: Store, rules: BackoffRules) -> Backoff {
        Backoff { store, rules }
    }

    /// Begins an attempt on `keys` (no lock: a read of their blocks), or says how long the
    /// longest of them is blocked. `Err` when PostgreSQL cannot tell: no limit is skipped.
    pub async fn begin(&self, keys: Vec<BackoffKey>) -> Result<Result<Attempt, Duration>, BrokerError> {
        let stored: Vec<String> = keys.iter().map(BackoffKey::stored).collect();
        let (now, blocked) = self.store.backoff_blocked(&stored).await?;
        Ok(match blocked {
            Some(wait) => Err(wait),
            None => Ok(Attempt { keys, began: now }),
        })
    }

    /// Judges an attempt with one verdict per key, in the order begun (see
    /// [`BackoffRules::judge`]); `Ok(Err(wait))` means `rate_limited`.
    pub async fn judge(&self, attempt: Attempt, verdicts: &[Verdict]) -> Result<Result<(), Duration>, BrokerError> {
        let Attempt { keys, began } = attempt;
        let stored: Vec<String> = keys.iter().map(BackoffKey::stored).collect();
        let rules = self.rules;
        self.store.backoff_judge(&stored, |states, now| rules.judge(states, verdicts, began, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: BackoffRules = BackoffRules { free: 5, max: Duration::from_secs(300) };

    fn judge(
        rules: &BackoffRules,
        state: &mut Option<Failures>,
        verdict: Verdict,
        began: SystemTime,
        now: SystemTime,
    ) -> Result<(), Duration> {
        rules.judge(std::slice::from_mut(state), &[verdict], began, now)
    }

    fn wait(state: &Option<Failures>, now: SystemTime) -> Option<Duration> {
        state.as_ref().and_then(|s| BackoffRules::wait(s, now))
    }

    #[test]
    fn backoff_doubles_after_the_free_attempts_and_resets() {
        let mut key = None;
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        for _ in 0..5 {
            judge(&RULES, &mut key, Verdict::Failed, t, t).expect("not blocked");
        }
        assert_eq!(wait(&key, t), Some(Duration::from_secs(1)));
        let t = t + Duration::from_secs(1);
        judge(&RULES, &mut key, Verdict::Failed, t, t).unwrap();
        assert_eq!(wait(&key, t), Some(Duration::from_secs(2)));
        let mut t = t;
        for _ in 0..30 {
            t += Duration::from_secs(301);
            judge(&RULES, &mut key, Verdict::Failed, t, t).unwrap();
        }
        assert_eq!(wait(&key, t), Some(Duration::from_secs(300)), "capped");
        let t = t + Duration::from_secs(300);
        judge(&RULES, &mut key, Verdict::Succeeded, t, t).unwrap();
        for _ in 0..4 {
            judge(&RULES, &mut key, Verdict::Failed, t, t).unwrap();
        }
        assert_eq!(wait(&key, t), None, "a success started the count over");
    }

    #[test]
    fn a_verdict_is_refused_when_its_key_was_blocked_while_it_ran_even_if_that_block_is_over() {
        let rules = BackoffRules { free: 2, max: Duration::from_secs(60) };
        let mut key = None;
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        // Four attempts begin at t; two verdicts arrive at once and block the key.
        let later = t + Duration::from_millis(10);
        for _ in 0..2 {
            assert_eq!(judge(&rules, &mut key, Verdict::Failed, t, later), Ok(()));
        }
        // Slow hashing: the other two arrive after the one-second block has ended.
        let much_later = later + Duration::from_secs(5);
        for _ in 0..2 {
            assert_eq!(judge(&rules, &mut key, Verdict::Failed, t, much_later), Err(Duration::ZERO));
            assert_eq!(judge(&rules, &mut key, Verdict::Succeeded, t, much_later), Err(Duration::ZERO));
        }
        // An attempt begun after the block is judged as usual.
        assert_eq!(judge(&rules, &mut key, Verdict::Failed, much_later, much_later), Ok(()));
    }

    #[test]
    fn one_blocked_key_refuses_every_verdict_of_the_attempt() {
        let rules = BackoffRules { free: 1, max: Duration::from_secs(60) };
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut states = [None, None];
        rules.judge(&mut states[1..], &[Verdict::Failed], t, t).unwrap();
        let before = states;
        let refused = rules.judge(&mut states, &[Verdict::Failed, Verdict::Failed], t, t);
        assert_eq!(refused, Err(Duration::from_secs(1)));
        assert_eq!(states, before, "nothing counted");
    }

    #[test]
    fn uncounted_and_successes_on_fresh_keys_store_nothing() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut states = [None, None];
        RULES.judge(&mut states, &[Verdict::Succeeded, Verdict::Uncounted], t, t).unwrap();
        assert_eq!(states, [None, None]);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_spell_of_failures() {
        let rules = BackoffRules { free: 2, max: Duration::from_secs(10) };
        let mut key = None;
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        judge(&rules, &mut key, Verdict::Failed, t, t).unwrap();
        // Verdicts without a failure (the per-IP key of a success) do not keep it alive.
        let t15 = t + Duration::from_secs(15);
        judge(&rules, &mut key, Verdict::Uncounted, t15, t15).unwrap();
        let t16 = t + Duration::from_secs(16);
        judge(&rules, &mut key, Verdict::Failed, t16, t16).unwrap();
        assert_eq!(wait(&key, t16), Some(Duration::from_secs(1)), "two failures within the spell");
        let quiet = t + Duration::from_secs(40);
        judge(&rules, &mut key, Verdict::Failed, quiet, quiet).unwrap();
        assert_eq!(wait(&key, quiet), None, "the earlier failures were forgotten");
    }
}
