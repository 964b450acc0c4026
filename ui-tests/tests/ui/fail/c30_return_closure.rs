use taskpool::concurrent;

#[concurrent]
fn adder(n: i32) -> impl Fn(i32) -> i32 {
    move |x| x + n
}

#[concurrent]
fn boxed_adder(n: i32) -> Box<dyn Fn(i32) -> i32 + Send> {
    Box::new(move |x| x + n)
}

fn main() {}
