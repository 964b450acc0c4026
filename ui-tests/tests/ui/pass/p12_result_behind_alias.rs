// Whether a task function can fail is decided on the resolved return type, not on its spelling:
// a `Result` behind any alias is fallible (its `Ok` value is the task's result, its `Err` fails
// the task), and a type of the user's own that happens to be called `Result` is plain data.
use taskpool::{ConcurrentFunction, Invocation, Task, concurrent, sendable};

/// Not serializable: only the `Ok` value of a task's result crosses threads.
#[derive(Debug)]
pub enum BankError {
    Overdrawn,
}

impl std::fmt::Display for BankError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("overdrawn")
    }
}

impl std::error::Error for BankError {}

type BankResult<T> = Result<T, BankError>;
type Balance = BankResult<u64>;

#[concurrent]
fn withdraw(balance: u64, amount: u64) -> BankResult<u64> {
    balance.checked_sub(amount).ok_or(BankError::Overdrawn)
}

#[concurrent]
async fn deposit(balance: u64, amount: u64) -> Balance {
    Ok(balance + amount)
}

mod renamed {
    use std::result::Result as Outcome;
    use taskpool::concurrent;

    #[concurrent]
    pub fn parse(text: String) -> Outcome<i32, std::num::ParseIntError> {
        text.parse()
    }
}

mod own_result {
    use super::*;

    /// A type of the user's own, called `Result`: plain data.
    #[sendable]
    #[derive(Debug, PartialEq)]
    pub struct Result {
        pub score: u32,
    }

    #[concurrent]
    pub fn grade(score: u32) -> Result {
        Result { score }
    }
}

fn main() {
    let _task: Task<u64> = withdraw::task(10, 3);
    let _task: Task<u64> = deposit::task(10, 3);
    let _task: Task<i32> = renamed::parse::task("7".into());
    let _task: Task<own_result::Result> = own_result::grade::task(3);

    assert!(matches!(withdraw::invoke((10, 3)), Invocation::Ready(Ok(7))));
    assert!(matches!(withdraw::invoke((1, 3)), Invocation::Ready(Err(_))));
    assert!(matches!(deposit::invoke((1, 3)), Invocation::Pending(_)));
    assert!(matches!(renamed::parse::invoke(("x".into(),)), Invocation::Ready(Err(_))));
    match own_result::grade::invoke((3,)) {
        Invocation::Ready(Ok(result)) => assert_eq!(result, own_result::Result { score: 3 }),
        _ => panic!("a plain value"),
    }
    // A direct call returns the `Result` itself.
    assert!(withdraw(1, 3).is_err());
}
