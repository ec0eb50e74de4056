/// Rule messages: text with `{field}` placeholders filled from the facts (`{target.code}`, `{transfer.basis}`).
/// An absent value renders as `(none)`, so a message can always name the field it is about and its value.
enum MessageTemplate {
    static let absent = "(none)"

    static func placeholders(in template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            let after = rest.index(after: open)
            guard let close = rest[after...].firstIndex(of: "}") else { break }
            names.append(String(rest[after..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    /// Fills the placeholders; scans the UTF-8 bytes (the braces are ASCII, so their indexes are character
    /// boundaries of the template).
    static func render(_ template: String, _ value: (String) -> String?) -> String {
        var out = ""
        let bytes = template.utf8
        var rest = bytes.startIndex
        while let open = bytes[rest...].firstIndex(of: UInt8(ascii: "{")) {
            let after = bytes.index(after: open)
            guard let close = bytes[after...].firstIndex(of: UInt8(ascii: "}")) else { break }
            out += template[rest..<open]
            out += value(String(template[after..<close])) ?? absent
            rest = bytes.index(after: close)
        }
        return out + template[rest...]
    }
}
