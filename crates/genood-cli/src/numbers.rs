//! Parsers for numeric flags, so that a size of 0 or a rate of NaN is refused when the
//! command line is read, with the flag named, instead of failing (or panicking) later.

/// A count of at least 1.
pub fn positive(text: &str) -> Result<usize, String> {
    at_least(text, 1)
}

/// At least 2 (Hutchinson's probes: a standard error needs two).
pub fn at_least_two(text: &str) -> Result<usize, String> {
    at_least(text, 2)
}

/// An image size `HxW` (or `N` for N×N), each side at least 1.
pub fn size(text: &str) -> Result<[usize; 2], String> {
    let (h, w) = text.split_once(['x', 'X']).unwrap_or((text, text));
    let side = |s: &str| positive(s.trim()).map_err(|e| format!("`{text}` is not HxW: {e}"));
    Ok([side(h)?, side(w)?])
}

/// A shard `K/N`: part K (from 1) of N.
pub fn shard(text: &str) -> Result<genood_lab::evaluation::Shard, String> {
    let (k, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not K/N"))?;
    let (k, n) = (positive(k)?, positive(n)?);
    if k > n {
        return Err(format!("shard {k} of {n} does not exist"));
    }
    Ok(genood_lab::evaluation::Shard {
        index: k - 1,
        count: n,
    })
}

/// Image channels: 1 (grey) or 3 (RGB).
pub fn channels(text: &str) -> Result<usize, String> {
    match text {
        "1" => Ok(1),
        "3" => Ok(3),
        _ => Err(format!("`{text}`: choose 1 (grey) or 3 (RGB)")),
    }
}

fn at_least(text: &str, min: usize) -> Result<usize, String> {
    let value: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if value < min {
        return Err(format!("must be at least {min}, got {value}"));
    }
    Ok(value)
}

/// A finite number greater than 0 (learning rates, finite-difference steps).
pub fn positive_finite(text: &str) -> Result<f64, String> {
    let value = finite(text)?;
    (value > 0.0)
        .then_some(value)
        .ok_or_else(|| format!("must be greater than 0, got {value}"))
}

/// A finite number of at least 0 (a sampling temperature).
pub fn non_negative_finite(text: &str) -> Result<f64, String> {
    let value = finite(text)?;
    (value >= 0.0)
        .then_some(value)
        .ok_or_else(|| format!("must be at least 0, got {value}"))
}

fn finite(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(format!("must be finite, got {value}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_nan_and_infinity_are_refused() {
        assert_eq!(positive("3"), Ok(3));
        assert!(positive("0").is_err());
        assert!(positive("-1").is_err());
        assert!(at_least_two("1").is_err());
        assert_eq!(at_least_two("2"), Ok(2));
        assert_eq!(positive_finite("1e-3"), Ok(1e-3));
        for bad in ["NaN", "inf", "-inf", "0", "-0.1", "x"] {
            assert!(positive_finite(bad).is_err(), "{bad}");
        }
        assert_eq!(non_negative_finite("0"), Ok(0.0));
        assert!(non_negative_finite("NaN").is_err());
        assert_eq!(size("28x32"), Ok([28, 32]));
        assert_eq!(size("16"), Ok([16, 16]));
        assert_eq!(shard("2/3").map(|s| (s.index, s.count)), Ok((1, 3)));
        for bad in ["0/3", "4/3", "1", "a/b"] {
            assert!(shard(bad).is_err(), "{bad}");
        }
        for bad in ["0x4", "4x", "axb", ""] {
            assert!(size(bad).is_err(), "{bad}");
        }
    }
}
