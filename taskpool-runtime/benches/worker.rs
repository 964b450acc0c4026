//! Worker benchmarks: what a message costs.
//!
//! Run with `cargo bench -p taskpool-runtime --bench worker` (`BENCH_ROUNDS`, default 7).
//! Every scenario runs its variants interleaved, round after round, and reports medians:
//!
//! 1. round trip host → worker → host (`post_message` then `recv`), against a ping-pong of two
//!    threads over two `crossbeam-channel`s (the floor: two thread hand-offs); target ≤ 2×;
//! 2. one way: messages per second from the host into a worker that counts them, the host
//!    waiting only for the last one's acknowledgement; against the same over one channel.

mod support;

use support::{median, per_iteration, rounds};

use std::hint::black_box;
use std::time::Instant;

use taskpool::{HandlerResult, Worker, WorkerHandler, WorkerPort};

/// Replies to every message with the message.
struct Echo;

impl WorkerHandler for Echo {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        port.post_message(n)?;
        Ok(())
    }
}

/// Counts messages; replies only to `u64::MAX`, with the count.
struct Count(u64);

impl WorkerHandler for Count {
    type In = u64;
    type Out = u64;

    async fn on_message(&mut self, n: u64, port: &WorkerPort<u64>) -> HandlerResult {
        if n == u64::MAX {
            port.post_message(self.0)?;
            self.0 = 0;
        } else {
            self.0 += 1;
        }
        Ok(())
    }
}

const ROUND_TRIPS: u32 = 20_000;
const ONE_WAY: u64 = 200_000;

fn round_trips(rounds: usize) -> (f64, f64) {
    let worker = Worker::new(|| Echo).unwrap();
    let (to_echo, echo_in) = crossbeam_channel::unbounded::<u64>();
    let (echo_out, from_echo) = crossbeam_channel::unbounded::<u64>();
    let echo = std::thread::spawn(move || {
        for n in echo_in {
            echo_out.send(n).unwrap();
        }
    });
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        ours.push(
            per_iteration(ROUND_TRIPS, || {
                worker.post_message(black_box(7)).unwrap();
                black_box(worker.recv().unwrap());
            })
            .as_nanos() as f64,
        );
        floor.push(
            per_iteration(ROUND_TRIPS, || {
                to_echo.send(black_box(7)).unwrap();
                black_box(from_echo.recv().unwrap());
            })
            .as_nanos() as f64,
        );
    }
    drop(to_echo);
    echo.join().unwrap();
    (median(ours), median(floor))
}

fn one_way(rounds: usize) -> (f64, f64) {
    let worker = Worker::new(|| Count(0)).unwrap();
    let (to_counter, counter_in) = crossbeam_channel::unbounded::<u64>();
    let (counter_out, from_counter) = crossbeam_channel::unbounded::<u64>();
    let counter = std::thread::spawn(move || {
        let mut count = 0;
        for n in counter_in {
            if n == u64::MAX {
                counter_out.send(count).unwrap();
                count = 0;
            } else {
                count += 1;
            }
        }
    });
    let (mut ours, mut floor) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let start = Instant::now();
        for n in 0..ONE_WAY {
            worker.post_message(black_box(n)).unwrap();
        }
        worker.post_message(u64::MAX).unwrap();
        assert_eq!(worker.recv(), Some(ONE_WAY));
        ours.push(ONE_WAY as f64 / start.elapsed().as_secs_f64());

        let start = Instant::now();
        for n in 0..ONE_WAY {
            to_counter.send(black_box(n)).unwrap();
        }
        to_counter.send(u64::MAX).unwrap();
        assert_eq!(from_counter.recv().unwrap(), ONE_WAY);
        floor.push(ONE_WAY as f64 / start.elapsed().as_secs_f64());
    }
    drop(to_counter);
    counter.join().unwrap();
    (median(ours), median(floor))
}

fn main() {
    let rounds = rounds();
    println!("worker benchmarks: {rounds} interleaved rounds, medians");

    let (ours, floor) = round_trips(rounds);
    let ratio = ours / floor;
    println!(
        "round trip host -> worker -> host: {:.2} us (crossbeam ping-pong {:.2} us): {:.2}x, target <= 2x: {}",
        ours / 1000.0,
        floor / 1000.0,
        ratio,
        if ratio <= 2.0 { "met" } else { "NOT met" }
    );

    let (ours, floor) = one_way(rounds);
    println!(
        "one way host -> worker: {:.2} M messages/s (crossbeam channel to a thread {:.2} M/s): {:.2}x",
        ours / 1e6,
        floor / 1e6,
        floor / ours
    );
}
