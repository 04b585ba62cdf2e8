/// The CSV of `show stat`: RFC 4180 quoting, so a check detail with a comma stays one field.
public enum CSV {
    /// A field as written: quoted (quotes doubled) only when it holds a comma, quote or newline.
    public static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        var out = "\""
        for c in text {
            if c == "\"" { out += "\"\"" } else if c == "\n" || c == "\r" { out += " " } else { out.append(c) }
        }
        return out + "\""
    }

    /// One line split into its fields, quotes undone.
    public static func split(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var quoted = false
        var index = line.startIndex
        while index < line.endIndex {
            let c = line[index]
            if quoted {
                if c == "\"" {
                    let next = line.index(after: index)
                    if next < line.endIndex && line[next] == "\"" {
                        current.append("\"")
                        index = next
                    } else {
                        quoted = false
                    }
                } else {
                    current.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                fields.append(current)
                current = ""
            } else {
                current.append(c)
            }
            index = line.index(after: index)
        }
        fields.append(current)
        return fields
    }
}
