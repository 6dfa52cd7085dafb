//! How `prunelab check` compares a stored text output with a fresh one: exactly by default (prunelab's
//! numbers are the same on every CPU, so a moved digit is a change), or with `--rtol` words exactly and
//! numbers within a tolerance.

use std::sync::OnceLock;

use regex::Regex;

/// How close two printed numbers must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Allowed relative difference where not `exact`; one unit in the last printed digit is then always
    /// allowed too.
    pub relative: f64,
    /// Compare the texts exactly, numbers included (the default).
    pub exact: bool,
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance {
            relative: 1e-3,
            exact: true,
        }
    }
}

/// What comparing two texts found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Findings {
    /// Differences that fail the check.
    pub differs: Vec<String>,
    /// Numbers that moved within the tolerance, for the report.
    pub tolerated: Vec<String>,
}

fn number() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
            .expect("valid regex")
    })
}

/// A line split into the words between numbers and the numbers themselves (as printed).
fn tokens(line: &str) -> (Vec<&str>, Vec<&str>) {
    let (mut words, mut numbers, mut at) = (Vec::new(), Vec::new(), 0);
    for m in number().find_iter(line) {
        words.push(&line[at..m.start()]);
        numbers.push(m.as_str());
        at = m.end();
    }
    words.push(&line[at..]);
    (words, numbers)
}

/// One unit in the last printed digit of a number: `0.9852` → 1e-4, `1.5e-3` → 1e-4, `26` → 1.
fn last_digit_unit(printed: &str) -> f64 {
    let (mantissa, exponent) = match printed.find(['e', 'E']) {
        Some(i) => (&printed[..i], printed[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (printed, 0),
    };
    let decimals = mantissa.find('.').map_or(0, |dot| mantissa.len() - dot - 1) as i32;
    10f64.powi(exponent - decimals)
}

/// Compares two numbers as printed: `Ok(Some(note))` when they differ within the tolerance, `Ok(None)` when
/// equal, `Err(note)` beyond it.
fn numbers(
    stored: &str,
    fresh: &str,
    tol: Tolerance,
) -> std::result::Result<Option<String>, String> {
    if stored == fresh {
        return Ok(None);
    }
    let (Ok(a), Ok(b)) = (stored.parse::<f64>(), fresh.parse::<f64>()) else {
        return Err(format!("{stored} is now {fresh}"));
    };
    let diff = (a - b).abs();
    let allowed = (tol.relative * a.abs().max(b.abs()))
        .max(last_digit_unit(stored))
        .max(last_digit_unit(fresh));
    // A hair of slack for the decimal-to-binary rounding of the printed values themselves.
    if !tol.exact && diff <= allowed * (1.0 + 1e-9) {
        Ok(Some(format!(
            "{stored} is now {fresh} (differs by {diff:.1e}, allowed {allowed:.1e})"
        )))
    } else if tol.exact {
        Err(format!("{stored} is now {fresh} (exact comparison)"))
    } else {
        Err(format!(
            "{stored} is now {fresh} (differs by {diff:.1e}, more than the allowed {allowed:.1e})"
        ))
    }
}

/// Compares a stored text with a fresh one line by line: the words between numbers must be equal, the numbers
/// equal within `tol`.
pub fn compare_text(stored: &str, fresh: &str, tol: Tolerance) -> Findings {
    let mut found = Findings::default();
    if stored == fresh {
        return found;
    }
    let (a, b): (Vec<&str>, Vec<&str>) = (stored.lines().collect(), fresh.lines().collect());
    for k in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(k).copied(), b.get(k).copied());
        if x == y {
            continue;
        }
        let whole_line = || {
            format!(
                "line {}:\n      stored: {}\n      now:    {}",
                k + 1,
                x.unwrap_or("<none>"),
                y.unwrap_or("<none>")
            )
        };
        let (Some(x), Some(y)) = (x, y) else {
            found.differs.push(whole_line());
            return found;
        };
        let ((xw, xn), (yw, yn)) = (tokens(x), tokens(y));
        if tol.exact || xw != yw || xn.len() != yn.len() {
            found.differs.push(whole_line());
            continue;
        }
        for (p, q) in xn.iter().zip(&yn) {
            match numbers(p, q, tol) {
                Ok(None) => {}
                Ok(Some(note)) => found.tolerated.push(format!("line {}: {note}", k + 1)),
                Err(note) => found.differs.push(format!(
                    "line {}: {note}\n      stored: {x}\n      now:    {y}",
                    k + 1
                )),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance {
        relative: 1e-3,
        exact: false,
    };

    #[test]
    fn last_printed_digit_noise_passes_and_is_reported() {
        let f = compare_text("test accuracy 0.9852\n", "test accuracy 0.9853\n", TOL);
        assert!(f.differs.is_empty(), "{f:?}");
        assert_eq!(f.tolerated.len(), 1);
        assert!(f.tolerated[0].contains("0.9852 is now 0.9853"), "{f:?}");
        // Relative 1e-3 is looser than the last digit for large numbers.
        assert!(compare_text("loss 1234.5", "loss 1235.6", TOL)
            .differs
            .is_empty());
        // Exponent notation: one unit of the last mantissa digit.
        assert!(compare_text("lr 1.25e-3", "lr 1.26e-3", TOL)
            .differs
            .is_empty());
        assert!(compare_text("26 removed", "27 removed", TOL)
            .differs
            .is_empty());
    }

    #[test]
    fn a_number_beyond_the_tolerance_fails() {
        let f = compare_text("test accuracy 0.9852\n", "test accuracy 0.9871\n", TOL);
        assert_eq!(f.differs.len(), 1, "{f:?}");
        assert!(f.differs[0].contains("0.9852 is now 0.9871"), "{f:?}");
        assert!(!compare_text("26 removed", "28 removed", TOL)
            .differs
            .is_empty());
        assert!(!compare_text("x 0.5", "x -0.5", TOL).differs.is_empty());
    }

    #[test]
    fn a_changed_word_or_line_count_fails() {
        assert!(!compare_text("accuracy 0.9852", "accurasy 0.9852", TOL)
            .differs
            .is_empty());
        assert!(!compare_text("a 1\nb 2", "a 1", TOL).differs.is_empty());
        assert!(!compare_text("a 1 2", "a 1", TOL).differs.is_empty());
        assert!(!compare_text("NaN", "inf", TOL).differs.is_empty());
    }

    #[test]
    fn exact_mode_refuses_any_change() {
        let exact = Tolerance { exact: true, ..TOL };
        assert!(!compare_text("0.9852", "0.9853", exact).differs.is_empty());
        assert!(compare_text("0.9852", "0.9852", exact).differs.is_empty());
    }

    #[test]
    fn numbers_in_words_and_ranges_are_split_alike() {
        let (w, n) = tokens("a 784-1000-10 net, L2 norm 1.5e-3");
        assert_eq!(n, vec!["784", "-1000", "-10", "2", "1.5e-3"]);
        assert_eq!(w.len(), n.len() + 1);
        assert_eq!(last_digit_unit("0.9852"), 1e-4);
        assert_eq!(last_digit_unit("26"), 1.0);
        assert!((last_digit_unit("1.25e-3") - 1e-5).abs() < 1e-20);
    }
}
