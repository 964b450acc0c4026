//! Handing handles to running tasks by tag, and naming outcomes: what the wait-cycle tests
//! share (a cycle needs each task to get the other's handle after both were submitted).

use std::sync::Mutex;

use super::wait_until;

/// Takes the handle handed over as `tag` from `from`, waiting until the test has put it there.
pub fn take_from<H>(from: &Mutex<Vec<(u32, H)>>, tag: u32) -> H {
    let mut found = None;
    wait_until("the test hands over the handle", || {
        let mut handles = from.lock().unwrap();
        if let Some(at) = handles.iter().position(|(t, _)| *t == tag) {
            found = Some(handles.remove(at).1);
        }
        found.is_some()
    });
    found.unwrap()
}

/// `ok(<value>)`, or the error's variant name.
pub fn outcome<T: std::fmt::Display>(result: taskpool::Result<T>) -> String {
    match result {
        Ok(value) => format!("ok({value})"),
        Err(e) => format!("{e:?}")
            .split(['(', ' ', '{'])
            .next()
            .unwrap()
            .to_owned(),
    }
}
