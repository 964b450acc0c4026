fn double(x: i32) -> i32 {
    x * 2
}

fn main() {
    let _task = taskpool::Task::new(double, (1,));
}
