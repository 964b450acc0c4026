//! `send_data` and its receivers (callbacks on the pool's callback thread, streams, blocking
//! iterators), the misuse codes 10200022/10200023/10200024, wrong types, periodic results, and
//! callbacks that panic or never return. Nothing sleeps to synchronise; nothing asserts on time.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use support::{open_gate, pass_gate, wait_until};
use taskpool::{Error, Priority, Task, TaskPool, concurrent, send_data};

#[concurrent]
fn count_to(n: u32) -> u32 {
    for i in 0..n {
        send_data(i).unwrap();
    }
    n
}

/// Sends a `String`; reports what `send_data` said.
#[concurrent]
fn send_text() -> Option<u32> {
    match send_data(String::from("text")) {
        Ok(()) => Some(0),
        Err(Error::DataTypeMismatch { expected, sent, .. }) => {
            assert!(expected.contains("u32") && sent.contains("String"));
            Some(1)
        }
        Err(error) => error.code(),
    }
}

fn thread_name() -> String {
    std::thread::current().name().unwrap_or("").to_owned()
}

#[test]
fn callbacks_receive_every_value_in_order_on_the_callback_thread() {
    let pool = TaskPool::builder()
        .max_threads(2)
        .thread_name("datacb")
        .build()
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let task = Task::new(count_to, (200,));
    let sink = Arc::clone(&seen);
    task.on_receive_data(move |value: u32| sink.lock().unwrap().push((value, thread_name())));
    assert_eq!(pool.execute(task).wait().unwrap(), 200);
    wait_until("every value arrived", || seen.lock().unwrap().len() == 200);
    let seen = seen.lock().unwrap();
    let values: Vec<u32> = seen.iter().map(|(v, _)| *v).collect();
    assert_eq!(values, (0..200).collect::<Vec<_>>());
    assert!(seen.iter().all(|(_, name)| name == "datacb-callbacks"));
}

#[test]
fn a_stream_from_the_task_yields_the_values_then_ends() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(count_to, (5,));
    let stream = task.data_stream::<u32>();
    let handle = pool.execute(task);
    let values: Vec<u32> = futures::executor::block_on(stream.collect());
    assert_eq!(values, [0, 1, 2, 3, 4]);
    assert_eq!(handle.wait().unwrap(), 5);
}

#[test]
fn a_stream_from_the_handle_ends_with_its_run() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(count_to, (3,));
    // Registered before the run can send: a stream on the task first, replaced by the
    // handle's, which gets everything the run sends afterwards.
    let first = task.data_stream::<u32>();
    let gate_task = Task::new(support_gate, (71,));
    let blocker = pool.execute(gate_task);
    let handle = pool.execute(&task);
    let stream = handle.data_stream::<u32>();
    open_gate(71);
    blocker.wait().unwrap();
    assert_eq!(handle.wait().unwrap(), 3);
    assert_eq!(stream.into_iter().collect::<Vec<_>>(), [0, 1, 2]);
    // The replaced stream ended, empty.
    assert_eq!(first.into_iter().count(), 0);
}

#[concurrent]
fn support_gate(id: u64) {
    pass_gate(id);
}

#[test]
fn the_last_registration_wins() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let called = Arc::new(Mutex::new(0));
    let task = Task::new(count_to, (4,));
    let counter = Arc::clone(&called);
    task.on_receive_data(move |_: u32| *counter.lock().unwrap() += 1);
    let stream = task.data_stream::<u32>();
    pool.execute(task).wait().unwrap();
    assert_eq!(stream.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3]);
    pool.shutdown();
    assert_eq!(*called.lock().unwrap(), 0);
}

#[test]
fn a_value_of_the_wrong_type_is_an_error_for_the_sender() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(send_text, ());
    let stream = task.data_stream::<u32>();
    assert_eq!(pool.execute(task).wait().unwrap(), Some(1));
    assert_eq!(stream.into_iter().count(), 0);
}

#[test]
fn misuse_keeps_the_arkts_codes() {
    // Outside any pool thread.
    assert_eq!(send_data(1u32).unwrap_err().code(), Some(10200022));
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    // No receiver registered.
    assert_eq!(
        pool.execute(Task::new(send_text, ())).wait().unwrap(),
        Some(10200024)
    );
    // From a host-side callback (not the concurrent function's run).
    let code = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&code);
    let task = Task::new(count_to, (1,));
    task.on_receive_data(move |_: u32| {
        *slot.lock().unwrap() = Some(send_data(2u32).unwrap_err().code());
    });
    pool.execute(task).wait().unwrap();
    wait_until("the callback ran", || code.lock().unwrap().is_some());
    assert_eq!(*code.lock().unwrap(), Some(Some(10200023)));
}

#[concurrent]
fn tick_value() {
    send_data(7u64).unwrap();
}

#[test]
fn a_periodic_task_streams_its_results_until_stopped() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(tick_value, ());
    let mut results = task.data_stream::<u64>();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::Medium)
        .unwrap();
    let first: Vec<u64> = results.blocking_iter().take(3).collect();
    assert_eq!(first, [7, 7, 7]);
    ticker.cancel().unwrap();
    // Ends once the last run is over (every remaining value is a result).
    assert!(results.into_iter().all(|v| v == 7));
    // A stream registered on a stopped task ends at once.
    assert_eq!(ticker.data_stream::<u64>().into_iter().count(), 0);
}

/// Waits at gate 73, then sends 42 (and fails if nobody receives it).
#[concurrent]
fn gated_send() {
    pass_gate(73);
    send_data(42u32).unwrap();
}

/// Regression: a cancel used to forget the run it flagged, so a stream registered after the
/// cancel, while that run still executed, ended at once and the run's `send_data` failed with
/// 10200024 (no receiver).
#[test]
fn a_stream_registered_after_a_cancel_hears_the_run_still_executing() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let task = Task::new(gated_send, ());
    let id = task.id();
    let ticker = pool
        .execute_periodically(Duration::from_millis(1), task, Priority::High)
        .unwrap();
    wait_until("the first run executes", || ticker.runs_started() == 1);
    ticker.cancel().unwrap();
    let stream = ticker.data_stream::<u32>();
    open_gate(73);
    // Ends once that run is over.
    assert_eq!(stream.into_iter().collect::<Vec<_>>(), [42]);
    assert_eq!(ticker.runs_started(), 1);
    assert!(pool.cancel(id).is_err(), "stopped once, for good");
}

/// Regression: the pool's callback thread took the pool threads' stack size, so a pool built
/// with a small stack made ordinary host code in a callback overflow it and abort the process.
#[test]
fn a_small_pool_stack_leaves_the_host_callbacks_a_full_stack() {
    support::in_child_process(
        "a_small_pool_stack_leaves_the_host_callbacks_a_full_stack",
        || {
            let pool = TaskPool::builder()
                .stack_size(taskpool::MIN_STACK_SIZE)
                .build()
                .unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            let task = Task::new(count_to, (1,));
            task.on_receive_data(move |n: u32| {
                // 256 KiB of locals: nothing a host thread would notice.
                let buffer = std::hint::black_box([n as u8 + 1; 256 * 1024]);
                tx.send(buffer.iter().map(|&b| u64::from(b)).sum::<u64>())
                    .unwrap();
            });
            pool.execute(task).wait().unwrap();
            assert_eq!(rx.recv_timeout(support::PATIENCE), Ok(256 * 1024));
        },
    );
}

#[test]
fn a_panicking_callback_does_not_stop_the_others_or_the_pool() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let task = Task::new(count_to, (5,));
    task.on_receive_data(move |value: u32| {
        if value == 1 {
            panic!("callback panics on purpose");
        }
        sink.lock().unwrap().push(value);
    });
    pool.execute(task).wait().unwrap();
    wait_until("the other values arrived", || {
        seen.lock().unwrap().len() == 4
    });
    assert_eq!(*seen.lock().unwrap(), [0, 2, 3, 4]);
    assert_eq!(pool.run(count_to, (0,)).wait().unwrap(), 0);
}

#[test]
fn a_callback_that_never_returns_does_not_hang_shutdown() {
    let pool = TaskPool::builder()
        .max_threads(1)
        .callback_timeout(Duration::from_millis(5))
        .build()
        .unwrap();
    let entered = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&entered);
    let task = Task::new(count_to, (2,));
    task.on_receive_data(move |_: u32| {
        *flag.lock().unwrap() = true;
        pass_gate(72);
    });
    pool.execute(task).wait().unwrap();
    wait_until("the callback is stuck", || *entered.lock().unwrap());
    pool.shutdown(); // returns: the stuck callback's thread is detached
    open_gate(72);
}

/// Waits at gate `gate`, then sends 0, 1, 2 (and fails if nobody receives them).
#[concurrent]
fn gated_count(gate: u64) {
    pass_gate(gate);
    for i in 0..3u32 {
        send_data(i).unwrap();
    }
}

/// A one-shot run has no record until a handle's `data_stream` makes one. Threads that ask at
/// once race to make it: they must all bind to the one the run sends through, so the last
/// stream registered hears every value and the others, replaced, end empty.
#[test]
fn streams_asked_at_once_of_a_one_shot_run_share_its_record() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    // A gate stays open: one per round (7400..7420, used nowhere else).
    for gate in 7400..7420 {
        let handle = pool.execute(Task::new(gated_count, (gate,)));
        let streams: Vec<_> = std::thread::scope(|scope| {
            let askers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| handle.data_stream::<u32>()))
                .collect();
            askers.into_iter().map(|a| a.join().unwrap()).collect()
        });
        open_gate(gate);
        handle.wait().unwrap();
        let heard: Vec<Vec<u32>> = streams
            .into_iter()
            .map(|stream| stream.into_iter().collect())
            .collect();
        assert_eq!(heard.iter().filter(|values| values.is_empty()).count(), 3);
        assert!(heard.contains(&vec![0, 1, 2]), "{heard:?}");
    }
}
