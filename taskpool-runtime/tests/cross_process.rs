//! A descriptor built in one process runs in another process of the same program.
//!
//! This test binary starts itself as a child (marked by an environment variable), sends it
//! descriptors on stdin, one per line, and reads the results from its stdout. Both processes
//! find the functions in the same registry, by name.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use taskpool::{Payload, Task, TaskDescriptor, TaskPool, concurrent, sleep};

const CHILD_MARKER: &str = "TASKPOOL_CROSS_PROCESS_CHILD";

#[concurrent]
fn add(a: i64, b: i64) -> i64 {
    a + b
}

#[concurrent]
async fn greet(name: String) -> String {
    sleep(Duration::from_millis(1)).await;
    format!("hello, {name}")
}

#[concurrent]
fn fail_loudly(message: String) -> u8 {
    panic!("{message}")
}

fn main() {
    if std::env::var_os(CHILD_MARKER).is_some() {
        serve_descriptors();
    } else {
        let checks = drive_a_child();
        println!("\ntest result: ok. {checks} passed; 0 failed; 0 ignored");
    }
}

/// The child: answers each descriptor line with its outcome.
fn serve_descriptors() {
    let names: Vec<_> = taskpool::registered_functions().collect();
    let mut out = std::io::stdout().lock();
    writeln!(out, "functions {}", names.join(",")).unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let descriptor = match line.split_once(' ') {
            Some(("bytes", hex)) => from_hex(hex).and_then(|b| TaskDescriptor::from_bytes(&b)),
            Some(("json", json)) => TaskDescriptor::from_json(json),
            _ => panic!("the parent sent an unknown line: {line}"),
        };
        let outcome = descriptor
            .and_then(|descriptor| TaskPool::global().execute_descriptor(&descriptor).wait());
        let reply = match outcome {
            Ok(Payload::Postcard(bytes)) => format!("ok-bytes {}", to_hex(&bytes)),
            Ok(Payload::Json(value)) => format!("ok-json {value}"),
            Err(error) => format!("err {:?} {error}", error.code()),
        };
        writeln!(out, "{reply}").unwrap();
        out.flush().unwrap();
    }
}

/// The parent: sends descriptors and checks every answer. Returns how many checks passed.
fn drive_a_child() -> usize {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(CHILD_MARKER, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the test binary can start itself");
    let mut to_child = child.stdin.take().unwrap();
    let mut from_child = BufReader::new(child.stdout.take().unwrap()).lines();
    let functions = from_child
        .next()
        .expect("the child introduces itself")
        .unwrap();
    let mut ask = |line: String| {
        writeln!(to_child, "{line}").unwrap();
        to_child.flush().unwrap();
        from_child.next().expect("the child answers").unwrap()
    };
    let mut checks = 0;
    let mut check = |name: &str, ok: bool, detail: String| {
        assert!(ok, "{name}: {detail}");
        println!("test cross_process::{name} ... ok");
        checks += 1;
    };

    let ours: Vec<_> = taskpool::registered_functions().collect();
    check(
        "both_processes_share_one_registry",
        functions == format!("functions {}", ours.join(",")),
        functions,
    );

    let add_bytes = Task::new(add, (40, 2))
        .descriptor()
        .unwrap()
        .to_bytes()
        .unwrap();
    let reply = ask(format!("bytes {}", to_hex(&add_bytes)));
    let value = reply
        .strip_prefix("ok-bytes ")
        .and_then(|hex| from_hex(hex).ok())
        .and_then(|bytes| Payload::Postcard(bytes).decode::<i64>().ok());
    check("a_bytes_descriptor_runs_remotely", value == Some(42), reply);

    let greet_json = Task::new(greet, ("ada".to_owned(),))
        .descriptor()
        .unwrap()
        .to_json()
        .unwrap();
    let reply = ask(format!("json {greet_json}"));
    check(
        "an_async_json_descriptor_runs_remotely",
        reply == r#"ok-json "hello, ada""#,
        reply,
    );

    let unknown = r#"{"version":1,"function":"elsewhere::missing","args":[]}"#;
    let reply = ask(format!("json {unknown}"));
    check(
        "an_unknown_function_is_refused_remotely",
        reply.starts_with("err Some(10200014)"),
        reply,
    );

    let reply = ask("bytes 01ffzz".to_owned());
    check(
        "garbage_is_refused_remotely",
        reply.starts_with("err Some(10200006)"),
        reply,
    );

    let panicking = Task::new(fail_loudly, ("remote boom".to_owned(),))
        .descriptor()
        .unwrap()
        .to_json()
        .unwrap();
    let reply = ask(format!("json {panicking}"));
    check(
        "a_panic_is_reported_and_the_child_lives_on",
        reply.starts_with("err None") && reply.contains("remote boom"),
        reply,
    );
    let reply = ask(format!("bytes {}", to_hex(&add_bytes)));
    check(
        "the_child_still_serves_after_a_panic",
        reply.starts_with("ok-bytes"),
        reply,
    );

    drop(to_child);
    let status = child.wait().unwrap();
    check(
        "the_child_exits_cleanly_at_end_of_input",
        status.success(),
        format!("{status}"),
    );
    checks
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(hex: &str) -> Result<Vec<u8>, taskpool::Error> {
    let bad = || taskpool::Error::Serialization(format!("`{hex}` is not hexadecimal"));
    if hex.len() % 2 != 0 {
        return Err(bad());
    }
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2).ok_or_else(bad)?, 16).map_err(|_| bad()))
        .collect()
}
