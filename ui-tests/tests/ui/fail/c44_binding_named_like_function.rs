use taskpool::concurrent;

// `#[concurrent]` makes `total` a unit value of the module (for `total::task(..)`), so a binding
// named `total` would match that value instead of binding a variable.
#[concurrent]
fn total(values: Vec<i64>) -> i64 {
    let total = values.iter().sum();
    total
}

#[concurrent]
fn scale(scale: f64, values: Vec<f64>) -> Vec<f64> {
    values.into_iter().map(|value| value * scale).collect()
}

fn main() {}
