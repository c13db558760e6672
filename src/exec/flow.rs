//! How many store requests are in flight: an adaptive limit (AIMD, as TCP congestion control does) shared by the
//! uploads, copies and deletes of one publish, and the retry of requests the store throttled.
//!
//! [`Aimd`] is the pure controller: fed one [`Answer`] per request and the store's count of congestion signals
//! (503/429 answers, timeouts, resets), it starts at [`start_for`] the round trip of the state's requests (a
//! request rate times that, at least [`START`]), doubles per round trip until the first sign of congestion,
//! then grows by one per round trip (faster while it is below the limit of its last cut); it cuts back by
//! [`THROTTLE_BACKOFF`] on throttling (at most once per [`THROTTLE_QUIET`]) and by [`LATENCY_BACKOFF`] when
//! answers take [`RISE`] times as long as usual (a queue is building somewhere). Only successful answers are
//! timed. It always stays within [1, cap], the target's `concurrency`, and says how far apart to send
//! ([`Aimd::send_gap`]: the limit spread over a round trip, as TCP pacing does).
//!
//! [`Flow`] puts it behind an async gate that paces the sends, and lets a request make its body ready (read a
//! file) only when few others are waiting for a slot. This module makes no requests and knows nothing of S3: it
//! must not grow into a scheduler (order is the plan's) or a memory budget (the executor's).

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use super::traits::{ExecError, ObjectStore};

/// In-flight requests at the start on a fast link, or one not timed.
pub const START: usize = 32;
/// The start on a timed link: as many in flight as make this many requests a second over its round trip
/// (see [`start_for`]). Below a third of the 3,500 PUTs a second S3 serves per prefix, and what [`START`]
/// makes over 32 ms.
pub const START_RATE: f64 = 1000.0;
/// Multiplicative decrease on throttling, timeouts and resets.
pub const THROTTLE_BACKOFF: f64 = 0.7;
/// Multiplicative decrease when latency rises.
pub const LATENCY_BACKOFF: f64 = 0.9;
/// Latency counts as risen when the recent answers take `RISE` × the base (plus [`SLACK`], for loopback's
/// sub-millisecond answers). The base is the lowest round-trip average seen, not the quickest single answer:
/// one answer on a connection that was already open can come a whole round trip sooner than the rest (against
/// moto, which closes every connection, it always does), and a base that low would cut the limit forever.
pub const RISE: f64 = 2.0;
const SLACK: f64 = 0.005;
/// After a cut for throttling, no other before this long: S3's request limits are per second (3,500 PUTs
/// per prefix), so the rest of the second that was too busy is refused whatever the limit is now; cutting on
/// each of its 503s took the limit far below what the store serves (5,000 files, RTT 100 ms, SlowDown above
/// 300 req/s: 75-78% of the ideal rate with a cut per round trip, 81-82% with this).
pub const THROTTLE_QUIET: Duration = Duration::from_secs(1);
/// A throttled request is tried again this many times (after a [`retry_pause`] each) before its file fails.
pub const THROTTLE_RETRIES: u32 = 20;
/// Requests are paced: sent no faster than this many times the limit per round trip in slow start, and
/// [`PACE_STEADY`] times after it, as Linux paces TCP (`tcp_pacing_ss_ratio` 200%, `tcp_pacing_ca_ratio` 120%).
/// Sent all at once, a round's requests reach the store together and (against moto, whose threads share one
/// lock) are answered together, so the next round leaves together too: the store then idles for every round
/// trip. Spread over the round trip, the store works while answers travel.
pub const PACE_SLOW_START: f64 = 2.0;
pub const PACE_STEADY: f64 = 1.2;
/// Requests that may have their body ready and wait for a slot: this share of the limit (at least one).
const READY_SHARE: f64 = 0.25;

/// What became of one request, as the flow sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// Answered successfully after this long: the only answers that are timed.
    Done(Duration),
    /// Throttled by the store (503 SlowDown, 429): answered quickly, without doing the work, so its time says
    /// nothing of how long the work takes.
    Throttled,
    /// Any other failure: says nothing of the link either.
    Failed,
}

/// The limit to start at, from the round trip of the requests made before the flow (the state's read and
/// claim; the quickest of them): [`START_RATE`] × that, at least [`START`], at most the cap. What throttling
/// protects is a request rate, and 32 in flight over 200 ms is 160 requests a second: far below any store's
/// limit, and five round trips of slow start from the 256 that a 1,000-file publish can use at once.
pub fn start_for(round_trip: Option<Duration>, cap: usize) -> usize {
    let timed = round_trip.map_or(0.0, |rt| rt.as_secs_f64() * START_RATE);
    (timed as usize).max(START).min(cap.max(1))
}

/// The AIMD controller. Pure: no clock (the time of each answer is given), no I/O.
#[derive(Debug, Clone)]
pub struct Aimd {
    limit: f64,
    cap: f64,
    /// Slow start (+1 per answer) below this, additive increase (+1 per round trip) above.
    ssthresh: f64,
    /// The limit before the last cut: below it the limit grows back fast (see [`Aimd::step`]).
    before_cut: f64,
    /// Lowest round-trip average seen, seconds (none during the first round).
    base: Option<f64>,
    /// Average over about one round trip of answers (each weighs 1/limit), seconds.
    round_avg: Option<f64>,
    /// Moving average over the last few answers (1/8 each), seconds: what is compared with the base.
    recent: Option<f64>,
    answers: u64,
    /// No new decrease (and no increase) before this many answers: those in flight were sent at the old limit.
    hold_until: u64,
    /// No cut for throttling before this time (see [`THROTTLE_QUIET`]).
    quiet_until: Duration,
    congestion_seen: u64,
    /// Answers before there is a base: the first round trip, at the start.
    first_round: u64,
    /// The round trip measured before the flow, for pacing until there is a base (seconds).
    hint: Option<f64>,
}

impl Aimd {
    /// Starting at [`START`].
    pub fn new(cap: usize) -> Self {
        Self::starting_at(cap, START)
    }

    /// Starting at `start` (see [`start_for`]), within [1, cap].
    pub fn starting_at(cap: usize, start: usize) -> Self {
        let cap = cap.max(1) as f64;
        let start = (start.max(1) as f64).min(cap);
        Aimd {
            limit: start,
            first_round: start as u64,
            hint: None,
            cap,
            ssthresh: cap,
            before_cut: 0.0,
            base: None,
            round_avg: None,
            recent: None,
            answers: 0,
            hold_until: 0,
            quiet_until: Duration::ZERO,
            congestion_seen: 0,
        }
    }

    /// Pace by `round_trip` until answers give a base (see [`Aimd::send_gap`]).
    pub fn with_round_trip(mut self, round_trip: Option<Duration>) -> Self {
        self.hint = round_trip.map(|rt| rt.as_secs_f64());
        self
    }

    /// The least time between two sends: the round trip (the base, else the hint) over the limit times the
    /// pacing ratio ([`PACE_SLOW_START`], [`PACE_STEADY`]). Zero while nothing is known of the link.
    pub fn send_gap(&self) -> Duration {
        let Some(round_trip) = self.base.or(self.hint) else {
            return Duration::ZERO;
        };
        let ratio = if self.limit < self.ssthresh {
            PACE_SLOW_START
        } else {
            PACE_STEADY
        };
        Duration::from_secs_f64(round_trip / (self.limit.max(1.0) * ratio))
    }

    /// Requests allowed in flight now, in [1, cap].
    pub fn limit(&self) -> usize {
        (self.limit as usize).clamp(1, self.cap as usize)
    }

    /// One request answered at `now` (time since the flow started); `congestion` is the store's running count
    /// of congestion signals. Returns the new limit.
    pub fn on_answer(&mut self, answer: Answer, congestion: u64, now: Duration) -> usize {
        self.answers += 1;
        let congested = congestion > self.congestion_seen;
        self.congestion_seen = self.congestion_seen.max(congestion);
        if congested || answer == Answer::Throttled {
            if now >= self.quiet_until && self.back_off(THROTTLE_BACKOFF) {
                self.quiet_until = now + THROTTLE_QUIET;
            }
            return self.limit();
        }
        let Answer::Done(latency) = answer else {
            return self.limit();
        };
        let l = latency.as_secs_f64();
        let weight = 1.0 / self.limit.max(8.0);
        let round_avg = self.round_avg.map_or(l, |a| a + (l - a) * weight);
        let recent = self.recent.map_or(l, |r| r + (l - r) / 8.0);
        (self.round_avg, self.recent) = (Some(round_avg), Some(recent));
        if self.answers >= self.first_round {
            self.base = Some(self.base.map_or(round_avg, |b| b.min(round_avg)));
        }
        if self.base.is_some_and(|base| recent > base * RISE + SLACK) {
            let _ = self.back_off(LATENCY_BACKOFF);
        } else if self.answers >= self.hold_until {
            self.limit = (self.limit + self.step()).min(self.cap);
        }
        self.limit()
    }

    /// Growth per answer: +1 in slow start; half the way back to the limit before the last cut per round trip
    /// (a cut overshoots when the store's limit is a rate: a throttled second leaves the next one unused);
    /// otherwise +1 per round trip.
    fn step(&self) -> f64 {
        if self.limit < self.ssthresh {
            1.0
        } else if self.limit < self.before_cut {
            ((self.before_cut - self.limit) / 2.0 / self.limit).max(1.0 / self.limit)
        } else {
            1.0 / self.limit
        }
    }

    /// At most once per round trip: the answers of requests in flight at the cut, and of the first round sent
    /// at the new limit, were on their way before the cut could show.
    fn back_off(&mut self, factor: f64) -> bool {
        if self.answers < self.hold_until {
            return false;
        }
        let before = self.limit;
        self.before_cut = before;
        self.limit = (self.limit * factor).max(1.0);
        self.ssthresh = self.limit;
        self.hold_until = self.answers + (before as u64).max(8) + self.limit as u64;
        true
    }
}

/// [`Aimd`] as an async gate: [`Flow::send`] waits for a slot, times the request and feeds the answer back.
pub struct Flow {
    started: Instant,
    state: Mutex<Gate>,
    wake: Notify,
    cap: usize,
}

struct Gate {
    aimd: Aimd,
    /// Requests in flight (at most the limit).
    in_flight: usize,
    /// Requests with their body ready, waiting for a slot (at most [`READY_SHARE`] of the limit).
    ready: usize,
    /// The earliest time the next request may be sent (pacing).
    next_send: Instant,
}

impl Gate {
    fn ready_max(&self) -> usize {
        ((self.aimd.limit() as f64 * READY_SHARE) as usize).max(1)
    }
}

/// A slot in flight; dropping it frees the slot.
struct Slot<'a> {
    flow: &'a Flow,
    start: Instant,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.flow.state.lock().expect("flow lock").in_flight -= 1;
        self.flow.wake.notify_waiters();
    }
}

/// Leave to make a request's body ready before its slot is free; dropping it gives the leave back.
struct Ready<'a> {
    flow: &'a Flow,
}

impl Drop for Ready<'_> {
    fn drop(&mut self) {
        self.flow.state.lock().expect("flow lock").ready -= 1;
        self.flow.wake.notify_waiters();
    }
}

impl Flow {
    /// A flow starting at [`START`].
    pub fn new(cap: usize) -> Self {
        Self::timed(cap, None)
    }

    /// A flow starting at [`start_for`] `round_trip`.
    pub fn timed(cap: usize, round_trip: Option<Duration>) -> Self {
        let start = start_for(round_trip, cap);
        tracing::debug!("in flight: starting at {start} (round trip {round_trip:?})");
        Flow {
            started: Instant::now(),
            state: Mutex::new(Gate {
                aimd: Aimd::starting_at(cap, start).with_round_trip(round_trip),
                in_flight: 0,
                ready: 0,
                next_send: Instant::now(),
            }),
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
        self.state.lock().expect("flow lock").aimd.limit()
    }

    /// Wait until `take` (called under the lock) finds room and takes it.
    async fn wait_for(&self, mut take: impl FnMut(&mut Gate) -> bool) {
        loop {
            // Registered before the check, so a slot freed in between still wakes us.
            let freed = self.wake.notified();
            if take(&mut self.state.lock().expect("flow lock")) {
                return;
            }
            freed.await;
        }
    }

    /// A slot, then the request's turn to be sent (pacing: [`Aimd::send_gap`] after the one before).
    async fn acquire(&self) -> Slot<'_> {
        self.wait_for(|g| {
            let free = g.in_flight < g.aimd.limit();
            g.in_flight += usize::from(free);
            free
        })
        .await;
        let mut slot = Slot {
            flow: self,
            start: Instant::now(),
        };
        let at = {
            let mut g = self.state.lock().expect("flow lock");
            let at = g.next_send.max(slot.start);
            g.next_send = at + g.aimd.send_gap();
            at
        };
        if at > slot.start {
            tokio::time::sleep_until(at.into()).await;
            // Timed from the send.
            slot.start = Instant::now();
        }
        slot
    }

    async fn ready(&self) -> Ready<'_> {
        self.wait_for(|g| {
            let free = g.ready < g.ready_max();
            g.ready += usize::from(free);
            free
        })
        .await;
        Ready { flow: self }
    }

    fn answered(&self, slot: Slot<'_>, answer: Answer, congestion: u64) {
        let mut s = self.state.lock().expect("flow lock");
        let before = s.aimd.limit();
        let after = s.aimd.on_answer(answer, congestion, self.started.elapsed());
        drop(s);
        if after != before && (after < before || after.is_multiple_of(16)) {
            tracing::debug!("in flight: {before} -> {after} ({answer:?})");
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
        self.send_with(store, || async { Ok(()) }, |()| op()).await
    }

    /// [`Flow::send`] for a request whose body is made first (a file read from git): `prepare` runs once, when
    /// fewer than a quarter of the limit are ready and waiting for a slot, so that file bytes are held by the
    /// requests in flight and few more; every attempt of `op` gets a clone of the body.
    pub async fn send_with<B, T, P, PFut, F, Fut>(
        &self,
        store: &dyn ObjectStore,
        prepare: P,
        mut op: F,
    ) -> Result<T, ExecError>
    where
        B: Clone,
        P: FnOnce() -> PFut,
        PFut: Future<Output = Result<B, ExecError>>,
        F: FnMut(B) -> Fut,
        Fut: Future<Output = Result<T, ExecError>>,
    {
        let (body, mut slot) = {
            let _ready = self.ready().await;
            let body = prepare().await?;
            // The slot is taken before the leave is given back.
            (body, self.acquire().await)
        };
        let mut attempt = 0;
        loop {
            let result = op(body.clone()).await;
            let answer = match &result {
                Ok(_) => Answer::Done(slot.start.elapsed()),
                Err(e) if e.is_throttled() => Answer::Throttled,
                Err(_) => Answer::Failed,
            };
            self.answered(slot, answer, store.congestion());
            match result {
                Err(e) if e.is_throttled() && attempt < THROTTLE_RETRIES => {
                    tracing::debug!("throttled ({e}); trying again");
                    tokio::time::sleep(retry_pause(attempt, jitter())).await;
                    attempt += 1;
                    slot = self.acquire().await;
                }
                other => return other,
            }
        }
    }
}

/// A number in [0, 1) that differs from call to call (std's randomly keyed hasher: no crate for one use).
fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let h = std::collections::hash_map::RandomState::new().hash_one(Instant::now());
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// How long a throttled request waits before it is tried again: a random share (`jitter`, in [0, 1)) of 100 ms
/// doubling per attempt, at most 2 s, so that the requests refused together don't come back together. The
/// limit has been cut already; the pause only spreads the retries, and a long one leaves the store's rate
/// unused once the throttled second has passed.
fn retry_pause(attempt: u32, jitter: f64) -> Duration {
    let full = Duration::from_millis(100 << attempt.min(5)).min(Duration::from_secs(2));
    full.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// One answer, 10 ms after the one before (a pretend clock).
    fn answer(a: &mut Aimd, answer: Answer, congestion: u64) -> usize {
        let now = Duration::from_millis(10 * (a.answers + 1));
        a.on_answer(answer, congestion, now)
    }

    /// Feed `n` successful answers of `latency`; the limit after.
    fn feed(a: &mut Aimd, n: usize, latency: Duration, congestion: u64) -> usize {
        (0..n).fold(a.limit(), |_, _| {
            answer(a, Answer::Done(latency), congestion)
        })
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
    fn the_start_is_a_request_rate_times_the_round_trip_within_32_and_the_cap() {
        for (round_trip_ms, cap, start) in [
            (None, 256, START),
            (Some(0), 256, 32),
            (Some(20), 256, 32),
            (Some(32), 256, 32),
            (Some(100), 256, 100),
            (Some(200), 256, 200),
            (Some(450), 256, 256),
            (Some(200), 16, 16),
            (Some(200), 0, 1),
        ] {
            let rt = round_trip_ms.map(Duration::from_millis);
            assert_eq!(start_for(rt, cap), start, "{round_trip_ms:?} ms, cap {cap}");
        }
        let mut a = Aimd::starting_at(256, 200);
        assert_eq!(a.limit(), 200);
        assert_eq!(
            feed(&mut a, 200, 200 * MS, 0),
            256,
            "slow start from there while latency stays flat"
        );
    }

    #[test]
    fn sends_are_paced_over_the_round_trip_twice_as_fast_in_slow_start() {
        // Nothing known of the link: no pacing.
        assert_eq!(Aimd::new(256).send_gap(), Duration::ZERO);
        // The hint until there is a base: 200 in flight over 200 ms, at twice that rate in slow start.
        let a = Aimd::starting_at(256, 200).with_round_trip(Some(200 * MS));
        assert_eq!(a.send_gap(), Duration::from_micros(500));
        // At the cap (slow start over): 1.2 times; the base (100 ms answers) replaces the hint.
        let mut a = Aimd::starting_at(256, 200).with_round_trip(Some(200 * MS));
        feed(&mut a, 300, 100 * MS, 0);
        assert_eq!(a.limit(), 256);
        let gap = a.send_gap().as_secs_f64();
        assert!((gap - 0.1 / (256.0 * 1.2)).abs() < 1e-9, "{gap}");
    }

    #[test]
    fn a_cap_below_the_start_is_the_limit_and_one_is_the_floor() {
        let mut a = Aimd::new(4);
        assert_eq!(a.limit(), 4);
        assert_eq!(feed(&mut a, 50, 10 * MS, 0), 4);
        let mut a = Aimd::new(1);
        assert_eq!(feed(&mut a, 10, 10 * MS, 0), 1);
        let mut a = Aimd::new(64);
        for _ in 0..3000 {
            answer(&mut a, Answer::Throttled, 0);
            assert!((1..=64).contains(&a.limit()));
        }
        assert_eq!(
            a.limit(),
            1,
            "a store that throttles everything gets one request at a time"
        );
    }

    /// 503s at these answer numbers, after slow start to 100 and otherwise flat answers: the limit right after
    /// each, and 400 answers after the first.
    #[test]
    fn throttling_cuts_once_per_round_trip_of_the_old_and_the_new_limit() {
        // (case, answers after which a 503 comes, limit after each 503, limit 400 answers after the first)
        let table: &[(&str, &[usize], &[usize], usize)] = &[
            ("one 503", &[0], &[70], 92),
            (
                "the rest of that round trip, sent before the cut, cuts no more",
                &[0, 1, 50, 99],
                &[70, 70, 70, 70],
                92,
            ),
            (
                "nor do the first answers sent at the new limit",
                &[0, 120, 169],
                &[70, 70, 70],
                92,
            ),
            (
                "a 503 after both round trips cuts again; growth aims at the last cut (70)",
                &[0, 170],
                &[70, 49],
                62,
            ),
        ];
        for (case, at, after, end) in table {
            let mut a = Aimd::new(256);
            feed(&mut a, 68, 100 * MS, 0);
            assert_eq!(a.limit(), 100, "{case}: slow start to 100");
            let mut n = 0;
            for (&at, &want) in at.iter().zip(*after) {
                feed(&mut a, at - n, 100 * MS, 0);
                assert_eq!(
                    answer(&mut a, Answer::Throttled, 0),
                    want,
                    "{case}: 503 at {at}"
                );
                n = at + 1;
            }
            feed(&mut a, 400 - n, 100 * MS, 0);
            assert_eq!(a.limit(), *end, "{case}: 400 answers later");
        }
    }

    /// A 503 once the cut's round trips are over: (seconds after the cut, limit after it).
    #[test]
    fn throttling_cuts_at_most_once_a_second() {
        let table = [(0.2, 70), (0.99, 70), (1.0, 49), (5.0, 49)];
        for (after, want) in table {
            let mut a = Aimd::new(256);
            feed(&mut a, 68, 100 * MS, 0);
            let t = Duration::from_secs(10);
            assert_eq!(a.on_answer(Answer::Throttled, 0, t), 70);
            for _ in 0..170 {
                a.on_answer(Answer::Done(100 * MS), 0, t);
            }
            let then = t + Duration::from_secs_f64(after);
            assert_eq!(
                a.on_answer(Answer::Throttled, 0, then),
                want,
                "503 {after} s after the cut"
            );
        }
    }

    #[test]
    fn after_a_cut_the_limit_grows_back_fast_to_where_it_was_then_by_one_per_round_trip() {
        let mut a = Aimd::new(256);
        feed(&mut a, 68, 100 * MS, 0);
        assert_eq!(answer(&mut a, Answer::Throttled, 0), 70);
        feed(&mut a, 170, 100 * MS, 0);
        assert_eq!(a.limit(), 70, "no growth while the cut is held");
        // about 40% of the gap to 100 per round trip: 70 -> 81 -> 88 -> 92 -> 95 ...
        let rounds: Vec<usize> = (0..4)
            .map(|_| {
                let n = a.limit();
                feed(&mut a, n, 100 * MS, 0)
            })
            .collect();
        assert_eq!(rounds, [81, 88, 92, 95]);
        feed(&mut a, 400, 100 * MS, 0);
        let at = a.limit();
        assert!((100..=104).contains(&at), "then +1 per round trip: {at}");
        // a congestion count that grows (a timeout the SDK retried) is a cut like a 503
        assert_eq!(answer(&mut a, Answer::Done(100 * MS), 1), at * 7 / 10);
    }

    /// Successful answers of `first` (enough for a base), then of `then`: whether the limit was cut.
    #[test]
    fn latency_backs_off_only_when_answers_take_well_over_their_usual_time() {
        let table: &[(&str, &[u64], &[u64], bool)] = &[
            ("flat", &[100], &[100], false),
            ("1.9x the base: within RISE", &[100], &[190], false),
            ("2.1x the base: a queue", &[100], &[210], true),
            (
                // against moto every answer pays a new connection except one on a connection kept open
                // after a 503: the quickest single answer is half the usual one and is not the base
                "one answer in five a round trip quicker",
                &[200, 200, 200, 200, 100],
                &[200, 200, 200, 200, 100],
                false,
            ),
            (
                "and a queue on top of that",
                &[200, 200, 200, 200, 100],
                &[600],
                true,
            ),
            ("loopback: sub-millisecond answers", &[0], &[4], false),
        ];
        for (case, first, then, cut) in table {
            let mut a = Aimd::new(1024);
            for i in 0..200 {
                answer(&mut a, Answer::Done(MS * first[i % first.len()] as u32), 0);
            }
            let peak = a.limit();
            for i in 0..200 {
                answer(&mut a, Answer::Done(MS * then[i % then.len()] as u32), 0);
            }
            assert_eq!(a.limit() < peak, *cut, "{case}: {peak} -> {}", a.limit());
        }
    }

    #[test]
    fn only_successful_answers_are_timed() {
        let mut a = Aimd::new(1024);
        feed(&mut a, 100, 200 * MS, 0);
        // failures change nothing: neither the limit nor what counts as a usual answer
        for _ in 0..500 {
            assert_eq!(answer(&mut a, Answer::Failed, 0), 132);
        }
        // quick 503s cut the limit, but don't lower the base: 200 ms answers stay usual afterwards
        answer(&mut a, Answer::Throttled, 0);
        let cut = a.limit();
        assert_eq!(cut, 92);
        assert!(feed(&mut a, 1000, 200 * MS, 0) > cut);
    }

    #[test]
    fn rising_latency_backs_off_and_flat_latency_recovers() {
        let mut a = Aimd::new(256);
        feed(&mut a, 40, 100 * MS, 0);
        let peak = a.limit();
        // a queue builds: answers take 3× as long
        feed(&mut a, 1200, 300 * MS, 0);
        let backed = a.limit();
        assert!(backed < peak / 2, "latency tripled: {peak} -> {backed}");
        // the queue drains
        feed(&mut a, 2000, 100 * MS, 0);
        assert!(a.limit() > backed, "grows again: {backed} -> {}", a.limit());
    }

    #[test]
    fn noise_within_the_rise_does_not_back_off() {
        let mut a = Aimd::new(256);
        for i in 0..150 {
            answer(
                &mut a,
                Answer::Done(Duration::from_millis(100 + (i * 37 % 120))),
                0,
            );
        }
        assert_eq!(a.limit(), 182);
    }

    #[test]
    fn retry_pauses_are_a_random_share_of_100_ms_doubling_up_to_2_s() {
        // (attempt, jitter, pause ms)
        let table = [
            (0, 0.0, 0),
            (0, 0.5, 50),
            (0, 1.0, 100),
            (1, 1.0, 200),
            (3, 0.5, 400),
            (4, 1.0, 1600),
            (5, 1.0, 2000),
            (19, 1.0, 2000),
            (19, 0.25, 500),
        ];
        for (attempt, jitter, ms) in table {
            assert_eq!(
                retry_pause(attempt, jitter),
                Duration::from_millis(ms),
                "attempt {attempt}, jitter {jitter}"
            );
        }
        let j = jitter();
        assert!((0.0..1.0).contains(&j));
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
        async fn list(&self, _: &str) -> Result<Vec<String>, super::super::StoreError> {
            Ok(Vec::new())
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

    #[tokio::test]
    async fn bodies_are_made_once_and_only_a_quarter_of_the_limit_ahead_of_a_slot() {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let flow = Flow::new(8);
        let (held, peak_held, made) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            AtomicUsize::new(0),
        );
        let throttled = Mutex::new(std::collections::HashSet::new());
        let all = (0..40).map(|i| {
            let (held, peak_held, made, throttled) = (&held, &peak_held, &made, &throttled);
            flow.send_with(
                &Quiet,
                move || async move {
                    made.fetch_add(1, SeqCst);
                    let n = held.fetch_add(1, SeqCst) + 1;
                    peak_held.fetch_max(n, SeqCst);
                    Ok(i)
                },
                move |body: usize| async move {
                    tokio::time::sleep(5 * MS).await;
                    // the first attempt of every tenth request is throttled
                    if body.is_multiple_of(10) && throttled.lock().expect("lock").insert(body) {
                        return Err(ExecError::Delete(super::super::StoreError::Throttled(
                            "SlowDown".into(),
                        )));
                    }
                    held.fetch_sub(1, SeqCst);
                    Ok(body)
                },
            )
        });
        let results = futures::future::join_all(all).await;
        assert_eq!(
            results.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            (0..40).collect::<Vec<_>>()
        );
        assert_eq!(
            made.load(SeqCst),
            40,
            "one body per request, retries included"
        );
        // 8 in flight, 2 ready, and the throttled ones waiting out their pause
        let peak = peak_held.load(SeqCst);
        assert!(peak <= 8 + 2 + 4, "bodies held at once: {peak}");
    }
}
