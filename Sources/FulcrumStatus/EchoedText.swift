/// Client text quoted back in a one-line error reply. The socket protocol ends a reply at the
/// first empty line and a terminal shows control bytes raw, so what a client sent is cut to
/// `maxBytes` and every byte outside printable ASCII (and the quote and backslash) is escaped:
/// the reply stays one printable line whatever arrived.
enum EchoedText {
    static let maxBytes = 80

    /// `text` in double quotes, escaped and cut (with "..." when cut).
    static func quoted(_ text: Substring) -> String {
        var out = "\""
        var count = 0
        for byte in text.utf8 {
            if count == maxBytes {
                out += "..."
                break
            }
            count += 1
            switch byte {
            case UInt8(ascii: "\""): out += "\\\""
            case UInt8(ascii: "\\"): out += "\\\\"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(byte))
            default: out += "\\x" + hexByte(byte)
            }
        }
        return out + "\""
    }

    static func quoted(_ text: String) -> String { quoted(text[...]) }

    private static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef".unicodeScalars)
        var s = ""
        s.unicodeScalars.append(digits[Int(byte >> 4)])
        s.unicodeScalars.append(digits[Int(byte & 0x0F)])
        return s
    }
}
