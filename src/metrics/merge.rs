//! Several expositions made into one: each family's samples gathered under one `# HELP` and
//! `# TYPE`, as the text format requires. Each project renders its own series (and caches them);
//! the instance's page puts them together here.
//!
//! Works on text this crate rendered: a family starts at its `# HELP` line and runs to the next
//! one. Families keep the order in which they first appear, samples the order of the parts.

/// The families of all `parts`, each once, with the samples of every part that has it.
pub fn merge_expositions<S: AsRef<str>>(parts: &[S]) -> String {
    // (family name, its HELP and TYPE lines, its samples), in first-seen order. Families are
    // few (tens), so a linear lookup is cheaper than a map.
    let mut families: Vec<(&str, Vec<&str>, Vec<&str>)> = Vec::new();
    for part in parts {
        let mut current: Option<usize> = None;
        for line in part.as_ref().lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or(rest);
                let index = match families.iter().position(|(n, _, _)| *n == name) {
                    Some(index) => index,
                    None => {
                        families.push((name, vec![line], Vec::new()));
                        families.len() - 1
                    }
                };
                current = Some(index);
                continue;
            }
            match current {
                Some(index) if line.starts_with("# ") => {
                    let header = &mut families[index].1;
                    if !header.contains(&line) {
                        header.push(line);
                    }
                }
                Some(index) => families[index].2.push(line),
                // A sample before any HELP: keep it as a family of its own.
                None => families.push(("", Vec::new(), vec![line])),
            }
        }
    }
    let mut text = String::with_capacity(parts.iter().map(|p| p.as_ref().len()).sum());
    for (_, header, samples) in &families {
        for line in header.iter().chain(samples) {
            text.push_str(line);
            text.push('\n');
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_appears_once_with_the_samples_of_every_part() {
        let a = "# HELP up Up.\n# TYPE up gauge\nup{p=\"a\"} 1\n# HELP x X.\n# TYPE x counter\nx{p=\"a\"} 3\n";
        let b = "# HELP up Up.\n# TYPE up gauge\nup{p=\"b\"} 0\n# HELP y Y.\n# TYPE y gauge\ny{p=\"b\"} 2\n";
        assert_eq!(
            merge_expositions(&[a, b]),
            "# HELP up Up.\n# TYPE up gauge\nup{p=\"a\"} 1\nup{p=\"b\"} 0\n\
             # HELP x X.\n# TYPE x counter\nx{p=\"a\"} 3\n\
             # HELP y Y.\n# TYPE y gauge\ny{p=\"b\"} 2\n"
        );
    }

    #[test]
    fn one_part_comes_out_as_it_went_in() {
        let a = "# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n";
        assert_eq!(merge_expositions(&[a]), a);
        assert_eq!(merge_expositions::<&str>(&[]), "");
    }
}
