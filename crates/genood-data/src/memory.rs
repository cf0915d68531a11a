//! How much memory there is, so that a size no machine holds is refused up front with the
//! number, instead of ending in an allocation failure (an abort) or a run that never ends.

/// The memory the system can give now: Linux's `MemAvailable`; `None` where it is not known
/// (then nothing is refused).
pub fn available_bytes() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `bytes` for people, e.g. `3.2 GiB`.
pub fn human(bytes: u128) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == UNITS.len() - 1 && value >= 1024.0 {
        return format!("{value:.2e} {}", UNITS[unit]);
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Refuses `needed` bytes when they exceed the memory available: the error says "needs about
/// N, more than the M of memory available".
pub fn check_available(needed: u128) -> Result<(), String> {
    match available_bytes() {
        Some(available) if needed > available => Err(format!(
            "needs about {}, more than the {} of memory available",
            human(needed),
            human(available)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512), "512.0 B");
        assert_eq!(human(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
        assert!(human(u128::MAX).ends_with("EiB"));
    }

    #[test]
    fn what_cannot_fit_is_refused_and_what_fits_is_not() {
        assert!(check_available(1024).is_ok());
        if cfg!(target_os = "linux") {
            let err = check_available(u128::MAX).unwrap_err();
            assert!(
                err.starts_with("needs about") && err.contains("available"),
                "{err}"
            );
        }
    }
}
