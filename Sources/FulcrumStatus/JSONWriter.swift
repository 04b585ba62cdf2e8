/// A minimal streaming JSON writer (RFC 8259): the module stays free of Foundation, and the
/// status outputs only need objects, arrays, strings, integers, doubles, bools and null.
/// It writes one line: no whitespace between tokens.
struct JSONWriter {
    private(set) var output = ""
    /// One entry per open object or array: whether a value was written in it yet (for commas).
    private var hasValue: [Bool] = []
    /// A key was just written: the next value follows it without a comma.
    private var afterKey = false

    mutating func beginObject() { open("{") }
    mutating func endObject() { close("}") }
    mutating func beginArray() { open("[") }
    mutating func endArray() { close("]") }

    mutating func key(_ name: String) {
        separate()
        JSONWriter.appendString(name, to: &output)
        output += ":"
        afterKey = true
    }

    mutating func string(_ value: String) {
        separate()
        JSONWriter.appendString(value, to: &output)
    }

    mutating func int<T: BinaryInteger>(_ value: T) {
        separate()
        output += "\(value)"
    }

    /// JSON has no NaN or infinity: those are written as null.
    mutating func double(_ value: Double) {
        separate()
        output += value.isFinite ? "\(value)" : "null"
    }

    mutating func bool(_ value: Bool) {
        separate()
        output += value ? "true" : "false"
    }

    mutating func null() {
        separate()
        output += "null"
    }

    // Conveniences: one call per member of an object.

    mutating func field(_ name: String, _ value: String) { key(name); string(value) }
    mutating func field(_ name: String, _ value: String?) {
        key(name)
        if let value { string(value) } else { null() }
    }
    mutating func field<T: BinaryInteger>(_ name: String, _ value: T) { key(name); int(value) }
    mutating func field(_ name: String, _ value: Double) { key(name); double(value) }
    mutating func field(_ name: String, _ value: Bool) { key(name); bool(value) }

    mutating func object(_ name: String, _ body: (inout JSONWriter) -> Void) {
        key(name)
        object(body)
    }

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        beginObject()
        body(&self)
        endObject()
    }

    mutating func array(_ name: String, _ body: (inout JSONWriter) -> Void) {
        key(name)
        beginArray()
        body(&self)
        endArray()
    }

    private mutating func open(_ bracket: String) {
        separate()
        output += bracket
        hasValue.append(false)
    }

    private mutating func close(_ bracket: String) {
        hasValue.removeLast()
        afterKey = false
        output += bracket
    }

    /// Writes the comma before a value or key that is not the first in its container.
    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = hasValue.indices.last else { return }
        if hasValue[last] { output += "," }
        hasValue[last] = true
    }

    /// A JSON string: quote, backslash and every control character escaped; U+2028 and U+2029
    /// too, so the text is also safe inside a JavaScript string.
    static func appendString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += unicodeEscape(scalar.value)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    private static func unicodeEscape(_ value: UInt32) -> String {
        let hex = String(value, radix: 16)
        return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
