use taskpool::concurrent;

pub struct Report {
    pub lines: Vec<String>,
}

#[concurrent]
fn report(count: u32) -> Report {
    Report { lines: vec![String::new(); count as usize] }
}

fn main() {}
