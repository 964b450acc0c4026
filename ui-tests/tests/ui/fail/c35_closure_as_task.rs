fn main() {
    let _task = taskpool::Task::new(|x: i32| x * 2, (1,));
}
