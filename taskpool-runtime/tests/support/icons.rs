//! The picture list several ArkTS guides build (`IconItemSource`, six icons per row), shared by
//! the guide ports (`guide_taskpool.rs`, `guide_worker.rs`).

use serde::{Deserialize, Serialize};

/// `class IconItemSource { image; text }`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IconItemSource {
    pub image: String,
    pub text: String,
}

impl IconItemSource {
    pub fn new(image: &str, text: String) -> IconItemSource {
        IconItemSource {
            image: image.to_owned(),
            text,
        }
    }
}

/// Appends row `row`: the guides' loop body, six icons named `item<n>` counting from 1.
pub fn push_row(list: &mut Vec<IconItemSource>, row: u32) {
    let num_start = row * 6;
    for (offset, image) in [
        "$media:startIcon",
        "$media:background",
        "$media:foreground",
        "$media:startIcon",
        "$media:background",
        "$media:foreground",
    ]
    .into_iter()
    .enumerate()
    {
        list.push(IconItemSource::new(
            image,
            format!("item{}", num_start + offset as u32 + 1),
        ));
    }
}
