//! Label files.

use webresnet::labels::{imagenet1k, parse};

#[test]
fn parse_trims_and_drops_trailing_blank_lines() {
    assert_eq!(parse("  cat \r\ndog\n\n\n"), ["cat", "dog"]);
    assert_eq!(parse("\u{feff}cat\ndog"), ["cat", "dog"]);
    assert!(parse("").is_empty());
    assert!(parse("\n \n").is_empty());
}

#[test]
fn parse_keeps_interior_blank_lines_so_indices_stay_put() {
    assert_eq!(parse("a\n\nc\n"), ["a", "", "c"]);
}

#[test]
fn imagenet_labels_line_up_with_class_indices() {
    let labels = imagenet1k();
    assert_eq!(labels.len(), 1000);
    assert_eq!(labels[285], "Egyptian cat");
    assert_eq!(labels[967], "espresso");
}
