use taskpool::{Shared, concurrent, sendable};

#[sendable]
#[derive(Debug)]
pub enum Shape {
    Circle { radius: f64 },
    Square(f64),
    Empty,
}

#[concurrent]
fn area(shape: Shared<Shape>) -> f64 {
    match &*shape {
        Shape::Circle { radius } => radius * radius * std::f64::consts::PI,
        Shape::Square(side) => side * side,
        Shape::Empty => 0.0,
    }
}

fn main() {
    assert_eq!(area(Shared::new(Shape::Square(2.0))), 4.0);
}
