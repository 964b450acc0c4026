use taskpool::concurrent;

// A `Result` behind an alias is recognised (see pass/p12): its `Ok` value is the task's result
// and its `Err` fails the task. So the error type must be an error, whatever the spelling.
#[derive(Debug)]
pub struct BankError;

type BankResult<T> = Result<T, BankError>;

#[concurrent]
fn withdraw(balance: u64, amount: u64) -> BankResult<u64> {
    balance.checked_sub(amount).ok_or(BankError)
}

fn main() {}
