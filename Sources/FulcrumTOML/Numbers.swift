// Bare values: booleans, integers, floats, dates and times. Each works on the token's bytes and
// reports a failure with the offset (within the token) of the offending character.

struct TokenFailure: Error {
    var offset: Int
    var message: String
}

private let digitsExpectation = "digits (underscores only between digits)"

extension Parser {
    func classify(_ t: [UInt8]) -> Result<TOMLValue, TokenFailure> {
        let word = String(decoding: t, as: UTF8.self)
        switch word {
        case "true": return .success(.boolean(true))
        case "false": return .success(.boolean(false))
        case "inf", "+inf": return .success(.float(.infinity))
        case "-inf": return .success(.float(-.infinity))
        case "nan", "+nan", "-nan": return .success(.float(.nan))
        default: break
        }
        if t.count >= 10 && t[0].isDigit && t[1].isDigit && t[2].isDigit && t[3].isDigit && t[4] == 0x2D {
            return parseDateTime(t)
        }
        if t.count >= 3 && t[0].isDigit && t[1].isDigit && t[2] == .colon {
            return parseLocalTime(t)
        }
        return parseNumber(t)
    }

    // MARK: Numbers

    func parseNumber(_ t: [UInt8]) -> Result<TOMLValue, TokenFailure> {
        func fail(_ k: Int, _ expected: String) -> Result<TOMLValue, TokenFailure> {
            let found = k < t.count ? "`" + String(decoding: t[k...k], as: UTF8.self) + "`" : "the end of the number"
            let after = k > 0 ? " after `\(String(decoding: t[0..<min(k, t.count)], as: UTF8.self))`" : ""
            return .failure(TokenFailure(offset: min(k, t.count), message: "found \(found)\(after); expected \(expected)"))
        }
        var k = 0
        var negative = false
        let hasSign = t.first == 0x2B || t.first == 0x2D
        if hasSign { negative = t[0] == 0x2D; k = 1 }
        // Radix prefixes.
        if k + 1 < t.count && t[k] == 0x30 && (t[k + 1] == 0x78 || t[k + 1] == 0x6F || t[k + 1] == 0x62) {
            if hasSign { return fail(0, "a number (hexadecimal, octal and binary integers cannot have a sign)") }
            let radix: UInt64 = t[k + 1] == 0x78 ? 16 : (t[k + 1] == 0x6F ? 8 : 2)
            let name = radix == 16 ? "hexadecimal" : (radix == 8 ? "octal" : "binary")
            k += 2
            var value: UInt64 = 0
            var sawDigit = false
            var previousUnderscore = false
            while k < t.count {
                let c = t[k]
                if c == 0x5F {
                    if !sawDigit || previousUnderscore { return fail(k, "\(name) \(digitsExpectation)") }
                    previousUnderscore = true
                    k += 1
                    continue
                }
                let d: UInt64
                if c.isDigit { d = UInt64(c - 0x30) }
                else if radix == 16 && c >= 0x61 && c <= 0x66 { d = UInt64(c - 0x61 + 10) }
                else if radix == 16 && c >= 0x41 && c <= 0x46 { d = UInt64(c - 0x41 + 10) }
                else { return fail(k, "\(name) \(digitsExpectation)") }
                if d >= radix { return fail(k, "\(name) \(digitsExpectation)") }
                let (m, o1) = value.multipliedReportingOverflow(by: radix)
                let (s, o2) = m.addingReportingOverflow(d)
                if o1 || o2 || s > UInt64(Int64.max) {
                    return .failure(TokenFailure(offset: 0, message: "found `\(String(decoding: t, as: UTF8.self))`; expected an integer from -9223372036854775808 to 9223372036854775807 (64 bits)"))
                }
                value = s
                sawDigit = true
                previousUnderscore = false
                k += 1
            }
            if !sawDigit || previousUnderscore { return fail(k, "\(name) \(digitsExpectation)") }
            return .success(.integer(Int64(value)))
        }
        // Decimal: integer part.
        let intStart = k
        var digits: [UInt8] = []
        if k < t.count && !t[k].isDigit {
            if t[k] == .dot { return fail(k, "a digit before the decimal point") }
            return fail(k, "a number")
        }
        if let r = scanDigits(t, &k, into: &digits) { return fail(r.0, r.1) }
        if digits.isEmpty { return fail(k, "a digit") }
        if digits.count > 1 && digits[0] == 0x30 {
            return .failure(TokenFailure(offset: intStart, message: "found `\(String(decoding: t, as: UTF8.self))`; expected a number without leading zeros"))
        }
        var isFloat = false
        var text = hasSign && negative ? [UInt8(0x2D)] : []
        text += digits
        if k < t.count && t[k] == .dot {
            isFloat = true
            k += 1
            text.append(.dot)
            var frac: [UInt8] = []
            if k >= t.count || !t[k].isDigit { return fail(k, "a digit after the decimal point") }
            if let r = scanDigits(t, &k, into: &frac) { return fail(r.0, r.1) }
            text += frac
        }
        if k < t.count && (t[k] == 0x65 || t[k] == 0x45) {
            isFloat = true
            k += 1
            text.append(0x65)
            if k < t.count && (t[k] == 0x2B || t[k] == 0x2D) { text.append(t[k]); k += 1 }
            var exp: [UInt8] = []
            if k >= t.count || !t[k].isDigit { return fail(k, "exponent digits") }
            if let r = scanDigits(t, &k, into: &exp) { return fail(r.0, r.1) }
            text += exp
        }
        if k < t.count {
            return fail(k, isFloat ? "the end of the number" : "a digit, `.`, `e`, or the end of the number")
        }
        if isFloat {
            guard let d = Double(String(decoding: text, as: UTF8.self)) else {
                return .failure(TokenFailure(offset: 0, message: "found `\(String(decoding: t, as: UTF8.self))`; expected a float"))
            }
            return .success(.float(d))
        }
        // Integer with range check (the magnitude of Int64.min is one more than Int64.max).
        var magnitude: UInt64 = 0
        for d in digits {
            let (m, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d - 0x30))
            if o1 || o2 { magnitude = .max; break }
            magnitude = s
        }
        let limit: UInt64 = negative ? UInt64(Int64.max) + 1 : UInt64(Int64.max)
        if magnitude > limit {
            return .failure(TokenFailure(offset: 0, message: "found `\(String(decoding: t, as: UTF8.self))`; expected an integer from -9223372036854775808 to 9223372036854775807 (64 bits)"))
        }
        if negative {
            return .success(.integer(magnitude == limit ? Int64.min : -Int64(magnitude)))
        }
        return .success(.integer(Int64(magnitude)))
    }

    /// Decimal digits with underscores only between digits; stops at the first other character.
    /// Returns the failing offset and expectation, or nil.
    func scanDigits(_ t: [UInt8], _ k: inout Int, into digits: inout [UInt8]) -> (Int, String)? {
        var previousUnderscore = false
        var sawDigit = false
        while k < t.count {
            let c = t[k]
            if c == 0x5F {
                if !sawDigit || previousUnderscore { return (k, digitsExpectation) }
                previousUnderscore = true
            } else if c.isDigit {
                digits.append(c)
                sawDigit = true
                previousUnderscore = false
            } else {
                break
            }
            k += 1
        }
        if previousUnderscore { return (k - 1, "a digit after `_` (underscores only between digits)") }
        return nil
    }

    // MARK: Dates and times

    func parseDateTime(_ t: [UInt8]) -> Result<TOMLValue, TokenFailure> {
        let date: TOMLDate
        switch parseDate(t) {
        case .success(let d): date = d
        case .failure(let f): return .failure(f)
        }
        if t.count == 10 { return .success(.localDate(date)) }
        let sep = t[10]
        guard sep == 0x54 || sep == 0x74 || sep == .space else {
            return .failure(TokenFailure(offset: 10, message: "found `\(String(decoding: t[10...10], as: UTF8.self))` after the date; expected `T` or a space and a time (HH:MM:SS)"))
        }
        var k = 11
        let time: TOMLTime
        switch parseTime(t, &k) {
        case .success(let v): time = v
        case .failure(let f): return .failure(f)
        }
        if k == t.count { return .success(.localDateTime(date, time)) }
        let c = t[k]
        if (c == 0x5A || c == 0x7A) && k + 1 == t.count {
            return .success(.offsetDateTime(date, time, offsetMinutes: 0))
        }
        if c == 0x2B || c == 0x2D {
            if t.count == k + 6, let oh = twoDigits(t, k + 1), t[k + 3] == .colon, let om = twoDigits(t, k + 4) {
                if oh > 23 || om > 59 {
                    return .failure(TokenFailure(offset: k, message: "found offset `\(String(decoding: t[k...], as: UTF8.self))`; expected hours 00–23 and minutes 00–59"))
                }
                let minutes = oh * 60 + om
                return .success(.offsetDateTime(date, time, offsetMinutes: c == 0x2D ? -minutes : minutes))
            }
        }
        return .failure(TokenFailure(offset: k, message: "found `\(String(decoding: t[k...], as: UTF8.self))` after the time; expected `Z`, an offset like +01:00, or the end of the value"))
    }

    func parseLocalTime(_ t: [UInt8]) -> Result<TOMLValue, TokenFailure> {
        var k = 0
        switch parseTime(t, &k) {
        case .success(let time):
            if k != t.count {
                return .failure(TokenFailure(offset: k, message: "found `\(String(decoding: t[k...], as: UTF8.self))` after the time; expected the end of the value (a time of day has no offset)"))
            }
            return .success(.localTime(time))
        case .failure(let f):
            return .failure(f)
        }
    }

    func twoDigits(_ t: [UInt8], _ k: Int) -> Int? {
        guard k + 1 < t.count, t[k].isDigit, t[k + 1].isDigit else { return nil }
        return Int(t[k] - 0x30) * 10 + Int(t[k + 1] - 0x30)
    }

    func parseDate(_ t: [UInt8]) -> Result<TOMLDate, TokenFailure> {
        let shown = String(decoding: t[0..<min(10, t.count)], as: UTF8.self)
        guard t.count >= 10, let y1 = twoDigits(t, 0), let y2 = twoDigits(t, 2), t[4] == 0x2D,
              let month = twoDigits(t, 5), t[7] == 0x2D, let day = twoDigits(t, 8) else {
            return .failure(TokenFailure(offset: 0, message: "found `\(shown)`; expected a date written YYYY-MM-DD"))
        }
        let year = y1 * 100 + y2
        guard month >= 1 && month <= 12 else {
            return .failure(TokenFailure(offset: 5, message: "found month \(month) in `\(shown)`; expected 01–12"))
        }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        guard day >= 1 && day <= days else {
            return .failure(TokenFailure(offset: 8, message: "found day \(day) in `\(shown)`; expected 01–\(days) for that month"))
        }
        return .success(TOMLDate(year: year, month: month, day: day))
    }

    /// HH:MM:SS with optional fraction, from `k`; leaves `k` after it.
    func parseTime(_ t: [UInt8], _ k: inout Int) -> Result<TOMLTime, TokenFailure> {
        let s = k
        guard let hour = twoDigits(t, s), s + 2 < t.count, t[s + 2] == .colon, let minute = twoDigits(t, s + 3),
              s + 5 < t.count, t[s + 5] == .colon, let second = twoDigits(t, s + 6) else {
            let shown = s < t.count ? "`" + String(decoding: t[s...], as: UTF8.self) + "`" : "the end of the value"
            return .failure(TokenFailure(offset: s, message: "found \(shown); expected a time written HH:MM:SS (seconds are required)"))
        }
        guard hour <= 23, minute <= 59, second <= 59 else {
            return .failure(TokenFailure(offset: s, message: "found `\(String(decoding: t[s..<(s + 8)], as: UTF8.self))`; expected hours 00–23, minutes 00–59, seconds 00–59"))
        }
        k = s + 8
        var nanosecond = 0
        if k < t.count && t[k] == .dot {
            k += 1
            var count = 0
            while k < t.count && t[k].isDigit {
                if count < 9 { nanosecond = nanosecond * 10 + Int(t[k] - 0x30) }
                count += 1
                k += 1
            }
            if count == 0 {
                return .failure(TokenFailure(offset: k - 1, message: "found `.` without digits after the seconds; expected fractional seconds"))
            }
            for _ in count..<max(count, 9) { nanosecond *= 10 }
        }
        return .success(TOMLTime(hour: hour, minute: minute, second: second, nanosecond: nanosecond))
    }
}
