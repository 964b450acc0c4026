use taskpool::concurrent;

// Neither serializable nor `#[sendable]`: only the type-level check can see it.
pub struct Image {
    pub pixels: Vec<u8>,
}

#[concurrent]
fn brightness(image: Image) -> u64 {
    image.pixels.iter().map(|&p| u64::from(p)).sum()
}

fn main() {}
