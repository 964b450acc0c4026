use taskpool::concurrent;

#[concurrent]
fn first_word<'a>(text: String) -> usize {
    text.split(' ').next().map_or(0, str::len)
}

fn main() {}
