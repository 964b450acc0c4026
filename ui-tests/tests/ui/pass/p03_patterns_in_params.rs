use taskpool::{Task, concurrent, sendable};

#[sendable]
pub struct Point {
    pub x: i64,
    pub y: i64,
}

#[concurrent]
fn manhattan(Point { x, y }: Point, (dx, dy): (i64, i64), mut scale: i64) -> i64 {
    scale += 0;
    ((x + dx).abs() + (y + dy).abs()) * scale
}

#[concurrent]
fn ignore(_: u8, _unused: u8) -> u8 {
    0
}

fn main() {
    assert_eq!(manhattan(Point { x: 1, y: -2 }, (1, 1), 2), 6);
    let _task: Task<i64> = manhattan::task(Point { x: 0, y: 0 }, (1, 2), 1);
    let _task: Task<u8> = ignore::task(1, 2);
}
