//! Class label names.

/// ImageNet-1k class names in class-index order (first lemma of each synset).
const IMAGENET1K: &str = include_str!("labels/imagenet1k.txt");

/// The 1000 ImageNet-1k class names, index `i` naming class `i`.
pub fn imagenet1k() -> Vec<String> {
    parse(IMAGENET1K)
}

/// Parses a label file: one label per line, trimmed. Line positions are
/// class indices, so empty lines inside the file are kept (as empty labels);
/// only trailing empty lines and a UTF-8 byte-order mark are dropped.
pub fn parse(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut labels: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    while labels.last().is_some_and(|l| l.is_empty()) {
        labels.pop();
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet1k_has_1000_named_classes() {
        let labels = imagenet1k();
        assert_eq!(labels.len(), 1000);
        assert!(labels.iter().all(|l| !l.is_empty()));
        assert_eq!(labels[0], "tench");
        assert_eq!(labels[281], "tabby");
        assert_eq!(labels[999], "toilet tissue");
    }
}
