/// A fragment of an HTML page. Values enter only through `text`, which escapes them; markup only through string
/// literals (`StaticString`), so no value of the log can become markup however it is composed.
public struct Markup: Sendable, Equatable {
    public private(set) var html: String

    private init(html: String) { self.html = html }

    /// A value as text: `&`, `<`, `>`, `"` and `'` escaped, so it is safe in element content and in quoted
    /// attribute values (HTML Living Standard §13.1.2.6 and §13.1.2.3).
    public static func text(_ value: String) -> Markup { Markup(html: escape(value)) }

    /// An identifier as text with a line-break opportunity (`<wbr>`) after each `/`, `.`, `@`, `:`, `-` and `_`,
    /// so that a long id (`mlops.training.requested`, `gdpr-transfer-without-basis`) wraps at its separators.
    public static func identifier(_ value: String) -> Markup {
        var html = ""
        var segment = ""
        for c in value {
            segment.append(c)
            if "/.@:-_".contains(c) {
                html += escape(segment) + "<wbr>"
                segment = ""
            }
        }
        return Markup(html: html + escape(segment))
    }

    /// Markup written in the code.
    public static func raw(_ literal: StaticString) -> Markup { Markup(html: "\(literal)") }

    /// `<name class="cls">children</name>`.
    public static func element(_ name: StaticString, class cls: StaticString? = nil, _ children: [Markup]) -> Markup {
        let open = cls.map { "<\(name) class=\"\($0)\">" } ?? "<\(name)>"
        return Markup(html: open + children.map(\.html).joined() + "</\(name)>")
    }

    public static func element(_ name: StaticString, class cls: StaticString? = nil, _ children: Markup...) -> Markup {
        element(name, class: cls, children)
    }

    /// The fragments one after the other, with a separator.
    public static func joined(_ parts: [Markup], separator: StaticString = "") -> Markup {
        Markup(html: parts.map(\.html).joined(separator: "\(separator)"))
    }

    public static func + (a: Markup, b: Markup) -> Markup { Markup(html: a.html + b.html) }

    /// Escapes the five characters that can end text or a quoted attribute value.
    public static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
