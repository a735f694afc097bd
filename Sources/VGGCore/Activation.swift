import FileIO
/// The activations vggconv runs and writes, the one list of them: a layer's `activation` (Conv2D,
/// Dense, Activation) must name one of these; `LayerSchema` refuses any other, and readers, writers and
/// the engine switch over this enum, so a new case is a compile error wherever it needs handling.
public enum Activation: String, CaseIterable, Sendable {
    case linear, relu, sigmoid, tanh, softmax

    /// The activation a config names (nil for none: linear).
    /// - Throws: `LayerSchema.Problem` for a name not in the list.
    public static func of(_ config: LayerConfig) throws(LayerSchema.Problem) -> Activation {
        guard let name = config.activation else { return .linear }
        guard let value = Activation(rawValue: name) else {
            throw LayerSchema.Problem(reason: "has activation '\(SafeText.quote(name))', which is not one of \(namesForMessages)")
        }
        return value
    }

    /// `linear, relu, sigmoid, tanh, softmax` for messages.
    public static let namesForMessages = allCases.map(\.rawValue).joined(separator: ", ")
}
