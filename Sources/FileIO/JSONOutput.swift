import Foundation

/// The one JSON encoding vggconv writes: snake_case keys in sorted order (stable files and diffs),
/// pretty-printed for people (`--json`) or compact inside `.vggw` headers.
public enum JSONOutput {
    public static func encode<T: Encodable>(_ value: T, pretty: Bool) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys]
        return try encoder.encode(value)
    }

    /// The decoder for what `encode` wrote (snake_case keys).
    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// Pretty JSON as text.
    public static func text<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encode(value, pretty: true), as: UTF8.self)
    }
}
