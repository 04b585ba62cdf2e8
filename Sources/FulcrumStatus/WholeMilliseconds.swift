/// A check duration in whole milliseconds, rounded half up, or nil when it is not a sane
/// duration (NaN, negative, absurdly large). Rounds with `+ 0.5` and truncation rather than
/// `Double.rounded()`, which calls libm's round(): this module links no libm of its own, and a
/// binary that uses it without Foundation or Glibc (fulcrumctl) would fail to link.
func wholeMilliseconds(_ ms: Double) -> Int? {
    guard ms.isFinite, ms >= 0, ms < 1e15 else { return nil }
    return Int(ms + 0.5)
}
