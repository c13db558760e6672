//! How many store requests are in flight: an adaptive limit (AIMD, as TCP congestion control does) shared by the
//! uploads, copies and deletes of one publish, and the retry of requests the store throttled.
//!
//! [`Aimd`] is the pure controller: fed one latency per answered request and the store's count of congestion
//! signals (503/429 answers, timeouts, resets), it starts at [`START`], doubles per round trip until the first
//! sign of congestion, then grows by one per round trip; it cuts back by [`THROTTLE_BACKOFF`] on throttling and by
//! [`LATENCY_BACKOFF`] when latency rises well above the quickest answer seen (a queue is building somewhere).
//! It always stays within [1, cap], the target's `concurrency`. [`Flow`] puts it behind an async gate. This
//! module makes no requests and knows nothing of S3: it must not grow into a scheduler (order is the plan's) or
//! a memory budget (the executor's).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::{ExecError, ObjectStore};

/// In-flight requests at the start (before anything is known of the link).
pub const START: usize = 32;
/// Multiplicative decrease on throttling, timeouts and resets.
pub const THROTTLE_BACKOFF: f64 = 0.7;
/// Multiplicative decrease when latency rises.
pub const LATENCY_BACKOFF: f64 = 0.9;
/// Latency counts as risen above `RISE` × the quickest answer (plus [`SLACK`], for loopback's sub-millisecond
/// answers). A queue this long only adds waiting: the link or the server is already busy.
const RISE: f64 = 2.0;
const SLACK: f64 = 0.005;
/// A throttled request is tried again this many times (after the SDK's own retries gave up) before its file
/// fails.
pub const THROTTLE_RETRIES: u32 = 12;

/// The AIMD controller. Pure: no clock, no I/O.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: f64,
    cap: f64,
    /// Slow start (+1 per answer) below this, additive increase (+1 per round trip) above.
    ssthresh: f64,
    /// Quickest answer seen, seconds.
    base: Option<f64>,
    /// Moving average of answer times, seconds.
    smoothed: Option<f64>,
    answers: u64,
    /// No new decrease (and no increase) before this many answers: those in flight were sent at the old limit.
    hold_until: u64,
    congestion_seen: u64,
}

impl Aimd {
    pub fn new(cap: usize) -> Self {
        let cap = cap.max(1) as f64;
        Aimd {
            limit: (START as f64).min(cap),
            cap,
            ssthresh: cap,
            base: None,
            smoothed: None,
            answers: 0,
            hold_until: 0,
            congestion_seen: 0,
        }
    }

    /// Requests allowed in flight now, in [1, cap].
    pub fn limit(&self) -> usize {
        (self.limit as usize).clamp(1, self.cap as usize)
    }

    /// One request answered (successfully or not) after `latency`; `congestion` is the store's running count of
    /// congestion signals. Returns the new limit.
    pub fn on_answer(&mut self, latency: Duration, congestion: u64) -> usize {
        self.answers += 1;
        if congestion > self.congestion_seen {
            self.congestion_seen = congestion;
            self.back_off(THROTTLE_BACKOFF);
            return self.limit();
        }
        let l = latency.as_secs_f64();
        let base = self.base.map_or(l, |b| b.min(l));
        let smoothed = self.smoothed.map_or(l, |s| s + (l - s) / 8.0);
        (self.base, self.smoothed) = (Some(base), Some(smoothed));
        if smoothed > base * RISE + SLACK {
            self.back_off(LATENCY_BACKOFF);
        } else if self.answers >= self.hold_until {
            let step = if self.limit < self.ssthresh {
                1.0
            } else {
                1.0 / self.limit
            };
            self.limit = (self.limit + step).min(self.cap);
        }
        self.limit()
    }

    /// At most once per round trip: the answers already in flight were sent before the cut.
    fn back_off(&mut self, factor: f64) {
        if self.answers < self.hold_until {
            return;
        }
        let before = self.limit;
        self.limit = (self.limit * factor).max(1.0);
        self.ssthresh = self.limit;
        self.hold_until = self.answers + (before as u64).max(8);
    }
}

/// [`Aimd`] as an async gate: [`Flow::send`] waits for a slot, times the request and feeds the answer back.
pub struct Flow {
    state: Mutex<(Aimd, usize)>,
    wake: Notify,
    cap: usize,
}

/// A slot in flight; dropping it frees the slot.
struct Slot<'a> {
    flow: &'a Flow,
    start: Instant,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.flow.state.lock().expect("flow lock").1 -= 1;
        self.flow.wake.notify_waiters();
    }
}

impl Flow {
    pub fn new(cap: usize) -> Self {
        Flow {
            state: Mutex::new((Aimd::new(cap), 0)),
            wake: Notify::new(),
            cap: cap.max(1),
        }
    }

    /// The hard cap (`concurrency`).
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.state.lock().expect("flow lock").0.limit()
    }

    async fn acquire(&self) -> Slot<'_> {
        loop {
            // Registered before the check, so a slot freed in between still wakes us.
            let freed = self.wake.notified();
            {
                let mut s = self.state.lock().expect("flow lock");
                if s.1 < s.0.limit() {
                    s.1 += 1;
                    return Slot {
                        flow: self,
                        start: Instant::now(),
                    };
                }
            }
            freed.await;
        }
    }

    fn answered(&self, slot: Slot<'_>, congestion: u64) {
        let latency = slot.start.elapsed();
        let mut s = self.state.lock().expect("flow lock");
        let before = s.0.limit();
        let after = s.0.on_answer(latency, congestion);
        drop(s);
        if after != before && (after < before || after.is_multiple_of(16)) {
            tracing::debug!("in flight: {before} -> {after} (answer in {latency:?})");
        }
        drop(slot);
    }

    /// Run `op` (one store request) in a slot; a request the store throttled is tried again after a pause,
    /// up to [`THROTTLE_RETRIES`] times, so that a SlowDown storm slows the publish down instead of failing it.
    pub async fn send<T, F, Fut>(&self, store: &dyn ObjectStore, mut op: F) -> Result<T, ExecError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ExecError>>,
    {
        let mut attempt = 0;
        loop {
            let slot = self.acquire().await;
            let result = op().await;
            self.answered(slot, store.congestion());
            match result {
                Err(e) if e.is_throttled() && attempt < THROTTLE_RETRIES => {
                    tracing::debug!("throttled ({e}); trying again");
                    tokio::time::sleep(retry_pause(attempt)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// 250 ms, doubling, at most 8 s (the limit has already been cut; this spreads the retries out).
fn retry_pause(attempt: u32) -> Duration {
    Duration::from_millis(250 << attempt.min(5)).min(Duration::from_secs(8))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Feed `n` answers of `latency` with no congestion; the limit after.
    fn feed(a: &mut Aimd, n: usize, latency: Duration, congestion: u64) -> usize {
        (0..n).fold(a.limit(), |_, _| a.on_answer(latency, congestion))
    }

    #[test]
    fn starts_at_32_and_grows_to_the_cap_while_latency_stays_flat() {
        let mut a = Aimd::new(256);
        assert_eq!(a.limit(), START);
        assert_eq!(
            feed(&mut a, 100, 100 * MS, 0),
            132,
            "slow start: +1 per answer"
        );
        assert_eq!(feed(&mut a, 1000, 100 * MS, 0), 256, "never above the cap");
    }

    #[test]
    fn a_cap_below_the_start_is_the_limit_and_one_is_the_floor() {
        let mut a = Aimd::new(4);
        assert_eq!(a.limit(), 4);
        assert_eq!(feed(&mut a, 50, 10 * MS, 0), 4);
        let mut a = Aimd::new(1);
        assert_eq!(feed(&mut a, 10, 10 * MS, 0), 1);
        let mut a = Aimd::new(64);
        for congestion in 1..200 {
            a.on_answer(10 * MS, congestion);
            assert!((1..=64).contains(&a.limit()));
        }
        assert_eq!(
            a.limit(),
            1,
            "a store that throttles everything gets one request at a time"
        );
    }

    #[test]
    fn throttling_cuts_once_per_round_trip_then_growth_is_additive() {
        let mut a = Aimd::new(256);
        feed(&mut a, 68, 100 * MS, 0);
        assert_eq!(a.limit(), 100);
        assert_eq!(a.on_answer(100 * MS, 1), 70, "×0.7 on a 503");
        // the other answers of that round trip, throttled too, don't cut again
        assert_eq!(feed(&mut a, 50, 100 * MS, 5), 70);
        feed(&mut a, 60, 100 * MS, 5);
        let after_round = a.limit();
        assert!(
            (70..=72).contains(&after_round),
            "+1 per round trip after a cut, not slow start: {after_round}"
        );
        assert_eq!(
            a.on_answer(100 * MS, 6),
            49,
            "the next round's 503 cuts again"
        );
    }

    #[test]
    fn rising_latency_backs_off_and_flat_latency_recovers() {
        let mut a = Aimd::new(256);
        feed(&mut a, 40, 100 * MS, 0);
        let peak = a.limit();
        // a queue builds: answers take 3× as long
        feed(&mut a, 600, 300 * MS, 0);
        let backed = a.limit();
        assert!(backed < peak / 2, "latency tripled: {peak} -> {backed}");
        // the queue drains
        feed(&mut a, 2000, 100 * MS, 0);
        assert!(a.limit() > backed, "grows again: {backed} -> {}", a.limit());
    }

    #[test]
    fn noise_within_twice_the_quickest_answer_does_not_back_off() {
        let mut a = Aimd::new(256);
        for i in 0..150 {
            a.on_answer(Duration::from_millis(100 + (i * 37 % 80)), 0);
        }
        assert_eq!(a.limit(), 182);
    }

    struct Quiet;
    #[async_trait::async_trait]
    impl ObjectStore for Quiet {
        fn describe(&self) -> String {
            "quiet".into()
        }
        async fn put(
            &self,
            _: &str,
            _: bytes::Bytes,
            _: &super::super::ObjectHeaders,
        ) -> Result<(), super::super::StoreError> {
            Ok(())
        }
        async fn put_stream(
            &self,
            _: &str,
            _: u64,
            _: Box<dyn std::io::Read + Send>,
            _: &super::super::ObjectHeaders,
        ) -> Result<(), super::super::StoreError> {
            Ok(())
        }
        async fn copy(
            &self,
            _: &str,
            _: &str,
            _: &super::super::ObjectHeaders,
        ) -> Result<(), super::super::StoreError> {
            Ok(())
        }
        async fn delete_batch(&self, _: &[String]) -> Result<(), super::super::StoreError> {
            Ok(())
        }
        async fn get_versioned(
            &self,
            _: &str,
        ) -> Result<Option<super::super::Versioned>, super::super::StoreError> {
            Ok(None)
        }
        async fn put_versioned(
            &self,
            _: &str,
            _: Vec<u8>,
            _: super::super::Precondition,
        ) -> Result<String, super::super::StoreError> {
            Ok(String::new())
        }
    }

    #[tokio::test]
    async fn send_keeps_within_the_limit_and_retries_throttled_requests() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let flow = Flow::new(8);
        let (now, peak, tries) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let op = || async {
            let n = now.fetch_add(1, SeqCst) + 1;
            peak.fetch_max(n, SeqCst);
            tokio::time::sleep(10 * MS).await;
            now.fetch_sub(1, SeqCst);
            // every fifth attempt is throttled
            if tries.fetch_add(1, SeqCst) % 5 == 4 {
                return Err(ExecError::Delete(super::super::StoreError::Throttled(
                    "SlowDown".into(),
                )));
            }
            Ok(())
        };
        let all = (0..40).map(|_| flow.send(&Quiet, op));
        let results = futures::future::join_all(all).await;
        assert!(
            results.iter().all(Result::is_ok),
            "throttled requests are retried"
        );
        assert!(tries.load(SeqCst) > 40);
        assert_eq!(peak.load(SeqCst), 8, "never more than the cap in flight");
    }
}
