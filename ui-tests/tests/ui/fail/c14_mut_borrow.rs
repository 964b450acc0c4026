use taskpool::concurrent;

#[concurrent]
fn push_one(values: &mut Vec<i32>) {
    values.push(1);
}

fn main() {}
