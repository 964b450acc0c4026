// Arguments to the attribute are reported together with the item's own violations, and a valid
// item is still expanded next to the error: its uses compile.
use taskpool::concurrent;

#[concurrent(fast)]
fn measure(text: &str) -> usize {
    text.len()
}

#[concurrent(priority = "high")]
fn double(x: u32) -> u32 {
    x * 2
}

fn main() {
    let _task = double::task(1);
    let _value: u32 = double(2);
}
