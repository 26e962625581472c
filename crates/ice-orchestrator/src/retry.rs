//! Retry decisions and backoff delays (SPEC 1.2).

use crate::error::NodeError;
use ice_core::node::{BackoffStrategy, RetryPolicy};
use std::time::Duration;

/// Whether `error` may be retried under `policy` (attempts aside).
pub fn should_retry(error: &NodeError, policy: &RetryPolicy) -> bool {
    error.retryable
        && policy
            .retry_on
            .as_ref()
            .is_none_or(|kinds| kinds.iter().any(|k| k == error.kind.as_str()))
}

/// The delay before the retry numbered `n` (from 0): fixed = b, linear =
/// b·(n+1), exponential = b·2ⁿ, capped at `max_backoff_seconds`, drawn
/// uniformly from [0, delay] when `jitter` is on.
pub fn backoff_delay(policy: &RetryPolicy, n: u32) -> Duration {
    let b = policy.backoff_seconds.max(0.0);
    let raw = match policy.backoff_strategy {
        BackoffStrategy::Fixed => b,
        BackoffStrategy::Linear => b * f64::from(n + 1),
        BackoffStrategy::Exponential => b * 2f64.powi(n.min(62) as i32),
    };
    let capped = raw.min(policy.max_backoff_seconds.max(0.0));
    let secs = if policy.jitter && capped > 0.0 {
        rand::random::<f64>() * capped
    } else {
        capped
    };
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn policy(strategy: BackoffStrategy) -> RetryPolicy {
        RetryPolicy {
            backoff_strategy: strategy,
            backoff_seconds: 1.0,
            max_backoff_seconds: 5.0,
            jitter: false,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn delays_follow_the_strategy_and_the_cap() {
        let secs = |s, n| backoff_delay(&policy(s), n).as_secs_f64();
        assert_eq!(
            [0, 1, 2].map(|n| secs(BackoffStrategy::Fixed, n)),
            [1.0, 1.0, 1.0]
        );
        assert_eq!(
            [0, 1, 2].map(|n| secs(BackoffStrategy::Linear, n)),
            [1.0, 2.0, 3.0]
        );
        assert_eq!(
            [0, 1, 2, 3].map(|n| secs(BackoffStrategy::Exponential, n)),
            [1.0, 2.0, 4.0, 5.0]
        );
    }

    #[test]
    fn jitter_stays_within_the_delay() {
        let p = RetryPolicy {
            jitter: true,
            ..policy(BackoffStrategy::Fixed)
        };
        for _ in 0..100 {
            assert!(backoff_delay(&p, 0) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retry_on_limits_the_kinds() {
        let p = RetryPolicy {
            retry_on: Some(vec!["timeout".into()]),
            ..RetryPolicy::default()
        };
        assert!(should_retry(&NodeError::new(ErrorKind::Timeout, "t"), &p));
        assert!(!should_retry(&NodeError::tool("x", true), &p));
        assert!(!should_retry(
            &NodeError::validation("x"),
            &RetryPolicy::default()
        ));
    }
}
