use taskpool::concurrent;

pub struct Rect {
    w: f64,
    h: f64,
}

impl Rect {
    #[concurrent]
    pub fn area(&self) -> f64 {
        self.w * self.h
    }
}

fn main() {}
