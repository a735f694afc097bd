/// Text that came from a file, made safe to print: control characters (newlines, ANSI escapes, DEL,
/// C1 controls) are shown as `\xNN` so a message stays on one line and cannot repaint a terminal,
/// and long values are cut so a 50 MB name is not echoed whole.
public enum SafeText {
    /// The longest file-provided value an error message repeats.
    public static let maximumLength = 80

    /// `text` with control characters escaped and cut to `limit` characters (`…` marks a cut).
    public static func quote(_ text: String, limit: Int = maximumLength) -> String {
        var out = ""
        var shown = 0
        for scalar in text.unicodeScalars {
            if shown >= limit { return out + "…" }
            out += escaped(scalar)
            shown += 1
        }
        return out
    }

    /// A whole message with control characters escaped (no truncation): the last line of defence
    /// for messages that interpolate file text without `quote`.
    public static func oneLine(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars { out += escaped(scalar) }
        return out
    }

    private static func escaped(_ scalar: Unicode.Scalar) -> String {
        let value = scalar.value
        let isControl = value < 0x20 || (0x7F...0x9F).contains(value) || value == 0x2028 || value == 0x2029
            || (0x202A...0x202E).contains(value) || (0x2066...0x2069).contains(value)  // bidi overrides
        guard isControl else { return String(scalar) }
        return value <= 0xFF ? "\\x" + hex(value, width: 2) : "\\u" + hex(value, width: 4)
    }

    private static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
}
