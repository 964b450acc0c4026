use taskpool::concurrent;

#[concurrent]
extern "C" fn callback(code: i32) -> i32 {
    code + 1
}

fn main() {}
