//! CloudFront invalidations as the executor sends them: one per batch of the plan, each with a
//! `CallerReference` that a retry (or a later publish sending it again) repeats; created with backoff while
//! CloudFront is busy; and `--wait`'s polling until they complete. What to invalidate is the plan's.

use std::time::Duration;

use super::traits::{Batch, Cdn, CdnError, Event, InvalidationStatus};
use crate::plan::Plan;

/// One invalidation to create: the distribution, its `CallerReference` and its paths (one batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    pub distribution: String,
    pub reference: String,
    pub paths: Vec<String>,
}

/// The invalidations of `plan`, one per batch, for the distributions in `cdns`: each `CallerReference` is
/// `base` with the distribution and the batch's number, so that the same publish sends the same references.
pub fn invalidations(plan: &Plan, cdns: &[&str], base: &str) -> Vec<Invalidation> {
    let mut out = Vec::new();
    for cp in plan
        .cdn
        .iter()
        .filter(|cp| cdns.contains(&cp.distribution.as_str()))
    {
        for (i, batch) in cp.batches.iter().enumerate() {
            out.push(Invalidation {
                distribution: cp.distribution.clone(),
                reference: format!("{base}-{}-{i}", cp.distribution),
                paths: batch.clone(),
            });
        }
    }
    out
}

/// Create every invalidation of `list` (CloudFront busy: retried with backoff, see
/// [`invalidate_with_backoff`]), one distribution's after another and the distributions at once. One answer
/// per invalidation, in `list`'s order: its id, or why it was not created (a distribution not in `cdns`
/// included).
pub async fn invalidate_each(
    cdns: &[(String, &dyn Cdn)],
    list: &[Invalidation],
    on: &(dyn Fn(Event) + Sync),
) -> Vec<Result<String, CdnError>> {
    let mut by_distribution: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, inv) in list.iter().enumerate() {
        match by_distribution
            .iter_mut()
            .find(|(d, _)| *d == inv.distribution)
        {
            Some((_, ix)) => ix.push(i),
            None => by_distribution.push((&inv.distribution, vec![i])),
        }
    }
    let per_distribution = by_distribution.iter().map(|(d, ix)| async move {
        let cdn = cdns.iter().find(|(id, _)| id == d).map(|(_, c)| *c);
        let mut answers = Vec::new();
        for &i in ix {
            let inv = &list[i];
            let answer = match cdn {
                Some(cdn) => {
                    let delay = Duration::from_secs(2);
                    invalidate_with_backoff(cdn, &inv.reference, &inv.paths, delay, on).await
                }
                None => Err(CdnError::failed(
                    format!("distribution {d} is not one of the target's any more"),
                    "",
                )),
            };
            if let Ok(id) = &answer {
                on(Event::Invalidated {
                    id,
                    paths: inv.paths.len(),
                });
            }
            answers.push((i, answer));
        }
        answers
    });
    let mut answers: Vec<_> = futures::future::join_all(per_distribution)
        .await
        .into_iter()
        .flatten()
        .collect();
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, a)| a).collect()
}

/// CloudFront answers `TooManyInvalidationsInProgress` when 3,000 paths / 15 wildcards are in flight: wait
/// and retry (bounded), beyond what the SDK's own retries do.
pub async fn invalidate_with_backoff(
    cdn: &dyn Cdn,
    reference: &str,
    paths: &[String],
    first_delay: Duration,
    on: &(dyn Fn(Event) + Sync),
) -> Result<String, CdnError> {
    let mut delay = first_delay;
    let mut attempt = 0;
    loop {
        let addresses = paths;
        match cdn
            .invalidate(Batch {
                reference,
                addresses,
            })
            .await
        {
            Err(CdnError::TooManyInProgress) if attempt < 8 => {
                tracing::debug!(
                    "too many invalidations in progress; retrying in {}s",
                    delay.as_secs()
                );
                on(Event::Throttled { delay });
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Poll until every invalidation completes, or `timeout` passes.
pub async fn wait_invalidations(
    cdn: &dyn Cdn,
    ids: &[String],
    timeout: Duration,
    poll: Duration,
    on_wait: &(dyn Fn(usize, Duration) + Sync),
) -> Result<bool, CdnError> {
    let start = std::time::Instant::now();
    let mut pending: Vec<&String> = ids.iter().collect();
    loop {
        let mut still = Vec::new();
        for id in pending {
            if cdn.status(id).await? == InvalidationStatus::InProgress {
                still.push(id);
            }
        }
        pending = still;
        if pending.is_empty() {
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            return Ok(false);
        }
        on_wait(pending.len(), start.elapsed());
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// A CDN double: invalidations stay InProgress for `polls` status calls; `busy` creations first fail with
    /// TooManyInvalidationsInProgress.
    struct FakeCdn {
        polls: Mutex<usize>,
        busy: Mutex<usize>,
        created: Mutex<Vec<(String, Vec<String>)>>,
    }

    #[async_trait]
    impl Cdn for FakeCdn {
        fn describe(&self) -> String {
            "fake".into()
        }
        async fn invalidate(&self, batch: Batch<'_>) -> Result<String, CdnError> {
            let (reference, paths) = (batch.reference, batch.addresses);
            let mut busy = self.busy.lock().unwrap();
            if *busy > 0 {
                *busy -= 1;
                return Err(CdnError::TooManyInProgress);
            }
            let mut c = self.created.lock().unwrap();
            c.push((reference.to_string(), paths.to_vec()));
            Ok(format!("I{}", c.len()))
        }
        async fn status(&self, _id: &str) -> Result<InvalidationStatus, CdnError> {
            let mut p = self.polls.lock().unwrap();
            if *p > 0 {
                *p -= 1;
                return Ok(InvalidationStatus::InProgress);
            }
            Ok(InvalidationStatus::Completed)
        }
    }

    fn fake(polls: usize, busy: usize) -> FakeCdn {
        FakeCdn {
            polls: Mutex::new(polls),
            busy: Mutex::new(busy),
            created: Mutex::new(Vec::new()),
        }
    }

    #[tokio::test]
    async fn wait_polls_until_completed_with_progress() {
        let cdn = fake(3, 0);
        let seen = Mutex::new(Vec::new());
        let done = wait_invalidations(
            &cdn,
            &["I1".into()],
            Duration::from_secs(3600),
            Duration::ZERO,
            &|n, _| seen.lock().unwrap().push(n),
        )
        .await
        .unwrap();
        assert!(done);
        assert_eq!(
            *seen.lock().unwrap(),
            [1, 1, 1],
            "one progress line per poll while in progress"
        );
    }

    #[tokio::test]
    async fn wait_gives_up_at_the_timeout() {
        let cdn = fake(usize::MAX, 0);
        let done = wait_invalidations(
            &cdn,
            &["I1".into()],
            Duration::ZERO,
            Duration::ZERO,
            &|_, _| {},
        )
        .await
        .unwrap();
        assert!(!done);
    }

    #[tokio::test]
    async fn backs_off_on_too_many_invalidations() {
        let cdn = fake(0, 3);
        let throttled = Mutex::new(0);
        let on = |e: Event| {
            if let Event::Throttled { .. } = e {
                *throttled.lock().unwrap() += 1;
            }
        };
        let id = invalidate_with_backoff(&cdn, "ref", &["/a".into()], Duration::ZERO, &on)
            .await
            .unwrap();
        assert_eq!(*throttled.lock().unwrap(), 3, "each retry is reported");
        assert_eq!(id, "I1");
        assert_eq!(cdn.created.lock().unwrap().len(), 1);
        // bounded: a CDN that stays busy is an error in the end
        let cdn = fake(0, usize::MAX);
        let e = invalidate_with_backoff(&cdn, "ref", &["/a".into()], Duration::ZERO, &|_| {}).await;
        assert!(matches!(e, Err(CdnError::TooManyInProgress)));
    }
}
