//! The builder validates its settings: an out-of-range value is refused by `build()` with 401,
//! naming the setting, instead of panicking later in a pool thread; a duration too long to
//! represent (`Duration::MAX`) means "never", everywhere a duration is accepted.

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::{
    PATIENCE, hold, open_gate, plain, threads_named, wait_until, wait_until_executing,
    wait_until_suspended,
};
use taskpool::{
    Error, MAX_STACK_SIZE, MIN_STACK_SIZE, TaskPool, TaskPoolBuilder, concurrent, sleep,
};

fn assert_refused(builder: TaskPoolBuilder, setting: &str) {
    match builder.build() {
        Err(error) => {
            assert_eq!(error.code(), Some(401), "{setting}: {error}");
            match &error {
                Error::InvalidConfig { setting: named, .. } => assert_eq!(*named, setting),
                other => panic!("{setting}: expected InvalidConfig, got {other:?}"),
            }
            assert!(error.to_string().contains(setting), "{error}");
        }
        Ok(pool) => panic!("{setting}: an out-of-range value was accepted: {pool:?}"),
    }
}

#[test]
fn out_of_range_settings_are_refused_with_401_naming_the_setting() {
    let builder = TaskPool::builder;
    assert_refused(builder().max_threads(0), "max_threads");
    assert_refused(builder().max_threads(usize::MAX), "max_threads");
    assert_refused(builder().extra_threads(usize::MAX), "extra_threads");
    assert_refused(builder().check_interval(Duration::ZERO), "check_interval");
    assert_refused(builder().time_limit(Duration::ZERO), "time_limit");
    assert_refused(builder().thread_name("bad\0name"), "thread_name");
    assert_refused(builder().max_serialized_bytes(0), "max_serialized_bytes");
    assert_refused(builder().stack_size(0), "stack_size");
    assert_refused(builder().stack_size(MIN_STACK_SIZE - 1), "stack_size");
    assert_refused(builder().stack_size(MAX_STACK_SIZE + 1), "stack_size");
    assert_refused(builder().stack_size(usize::MAX), "stack_size");
    // The smallest accepted values build.
    let pool = builder()
        .max_threads(1)
        .extra_threads(0)
        .check_interval(Duration::from_nanos(1))
        .time_limit(Duration::from_secs(60))
        .max_serialized_bytes(1)
        .stack_size(MIN_STACK_SIZE)
        .build()
        .unwrap();
    assert_eq!(pool.run(plain, (4,)).wait().unwrap(), 4);
}

/// A singly linked list, built and measured without recursion; only its (derived) drop
/// recurses, one level per node.
enum List {
    Node(Box<List>),
    End,
}

impl List {
    fn of_length(length: usize) -> List {
        (0..length).fold(List::End, |tail, _| List::Node(Box::new(tail)))
    }
}

/// Takes a list by value and drops it on its thread, once it is long enough to tell.
fn drop_on_this_thread(list: List) -> bool {
    let mut tail = &list;
    let mut length = 0;
    while let List::Node(next) = tail {
        (length, tail) = (length + 1, &**next);
    }
    drop(list);
    length > 0
}

#[concurrent]
fn drop_a_deep_list(length: u64) -> bool {
    drop_on_this_thread(List::of_length(length as usize))
}

#[test]
fn a_task_can_drop_a_value_nested_a_hundred_thousand_deep() {
    // A debug build needs about 10 MiB of stack for this drop. On Rust's default 2 MiB for
    // spawned threads the pool thread overflowed and the process aborted; the test's own
    // thread could not do it either, so the value is built and dropped inside the task.
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    assert!(pool.run(drop_a_deep_list, (100_000,)).wait().unwrap());
    // A pool given a larger stack goes deeper.
    let deep = TaskPool::builder()
        .max_threads(1)
        .stack_size(256 << 20)
        .build()
        .unwrap();
    assert!(deep.run(drop_a_deep_list, (2_000_000,)).wait().unwrap());
}

#[test]
fn durations_too_long_to_represent_mean_never_and_the_pool_still_works() {
    let unlimited = TaskPool::builder()
        .max_threads(2)
        .time_limit(Duration::MAX)
        .check_interval(Duration::MAX)
        .idle_timeout(Duration::MAX)
        .thread_name("cfgmax")
        .build()
        .unwrap();
    let handles: Vec<_> = (0..10).map(|x| unlimited.run(plain, (x,))).collect();
    for (x, handle) in (0..).zip(handles) {
        assert_eq!(handle.wait().unwrap(), x);
    }
    // Its supervisor started with the first task; the old one died at once computing
    // `now + Duration::MAX`.
    let supervisor = || threads_named("cfgmax-superv");
    wait_until("the supervisor runs", || supervisor() == 1);
    let unlimited_call = unlimited.run(hold, (1,));
    wait_until_executing(&unlimited, unlimited_call.id());
    // A second pool with a short limit enforces it meanwhile.
    let limited = TaskPool::builder()
        .max_threads(1)
        .time_limit(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut limited_call = limited.run(hold, (2,));
    match limited_call.wait_timeout(PATIENCE) {
        Some(Err(Error::TimedOut { .. })) => {}
        other => panic!("expected a time-out on the limited pool, got {other:?}"),
    }
    // The same wait on the pool without a limit is never cut short.
    assert!(!unlimited_call.is_finished(), "no time limit applies");
    // Waited for, not read once: a `/proc` listing can skip a thread while other tests end
    // theirs. A supervisor that died never shows again, and the wait fails.
    wait_until("the supervisor is still alive", || supervisor() == 1);
    open_gate(1);
    open_gate(2);
    assert_eq!(unlimited_call.wait().unwrap(), 1);
}

static MET: AtomicUsize = AtomicUsize::new(0);

/// Returns once `parties` calls are inside it at once, each on its own thread.
#[concurrent]
fn meet(parties: usize) -> usize {
    MET.fetch_add(1, Ordering::SeqCst);
    wait_until("every party arrives", || {
        MET.load(Ordering::SeqCst) >= parties
    });
    parties
}

#[test]
fn an_unrepresentable_time_limit_does_not_stop_idle_threads_being_released() {
    // The old supervisor died computing `now + time_limit`, so nothing was ever released.
    let pool = TaskPool::builder()
        .max_threads(2)
        .time_limit(Duration::MAX)
        .check_interval(Duration::from_millis(5))
        .idle_timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let both: Vec<_> = (0..2).map(|_| pool.run(meet, (2,))).collect();
    for handle in both {
        assert_eq!(handle.wait().unwrap(), 2);
    }
    wait_until("an idle thread is released", || pool.thread_count() == 1);
    assert_eq!(pool.run(plain, (3,)).wait().unwrap(), 3);
}

#[test]
fn an_unrepresentable_check_interval_does_not_stop_the_time_limit() {
    // The old supervisor died computing `now + check_interval`, so nothing ever timed out.
    let limit = Duration::from_millis(50);
    let pool = TaskPool::builder()
        .max_threads(1)
        .time_limit(limit)
        .check_interval(Duration::MAX)
        .idle_timeout(Duration::MAX)
        .build()
        .unwrap();
    let mut stuck = pool.run(hold, (3,));
    let outcome = stuck.wait_timeout(PATIENCE);
    open_gate(3);
    match outcome {
        Some(Err(Error::TimedOut {
            limit: reported, ..
        })) => assert_eq!(reported, limit),
        other => panic!("expected a time-out, got {other:?}"),
    }
    assert_eq!(pool.run(plain, (5,)).wait().unwrap(), 5);
}

#[test]
fn wait_timeout_max_waits_for_the_outcome() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut quick = pool.run(plain, (6,));
    assert!(matches!(quick.wait_timeout(Duration::MAX), Some(Ok(6))));
    // And one that has to block: the gate opens once the call is executing.
    let mut gated = pool.run(hold, (4,));
    let id = gated.id();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            wait_until_executing(&pool, id);
            open_gate(4);
        });
        assert!(matches!(gated.wait_timeout(Duration::MAX), Some(Ok(4))));
    });
}

#[concurrent]
async fn sleep_forever() -> u32 {
    sleep(Duration::MAX).await;
    1
}

#[test]
fn a_task_sleeping_for_duration_max_can_be_canceled() {
    let pool = TaskPool::builder().max_threads(1).build().unwrap();
    let mut handle = pool.run(sleep_forever, ());
    let id = handle.id();
    wait_until_suspended(&pool, id);
    handle.cancel().unwrap();
    match handle.wait_timeout(PATIENCE) {
        Some(Err(Error::Canceled {
            started: true,
            late: None,
            ..
        })) => {}
        other => panic!("expected a cancel after start, got {other:?}"),
    }
    assert_eq!(pool.run(plain, (7,)).wait().unwrap(), 7);
}

/// A pool thread reserves twice the stack size (for runs inline in a wait); where the system
/// refuses that much address space (here a limit of 2.5 GiB against 1 GiB stacks, one of them
/// the supervisor's), it starts with the stack size itself instead of leaving the pool without
/// threads.
#[cfg(target_os = "linux")]
#[test]
fn a_pool_thread_starts_where_twice_its_stack_is_refused() {
    support::in_child_process_after(
        &format!("ulimit -v {};", 5 << 19),
        "a_pool_thread_starts_where_twice_its_stack_is_refused",
        || {
            let pool = TaskPool::builder()
                .max_threads(1)
                .stack_size(MAX_STACK_SIZE)
                .build()
                .unwrap();
            assert_eq!(pool.run(plain, (5,)).wait().unwrap(), 5);
        },
    );
}
