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

    static func render(_ template: String, _ value: (String) -> String?) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            let after = rest.index(after: open)
            guard let close = rest[after...].firstIndex(of: "}") else { break }
            out += rest[..<open]
            out += value(String(rest[after..<close])) ?? absent
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }
}
