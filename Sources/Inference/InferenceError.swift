/// Failures of the inference engine and its inputs.
public enum InferenceError: Error, CustomStringConvertible, Sendable {
    case unsupported(layer: String, reason: String)
    case inputShape(expected: [Int], actual: [Int], hint: String)
    case missingTensor(layer: String, tensor: String)

    public var description: String {
        switch self {
        case .unsupported(let layer, let reason):
            return "cannot run layer \(layer): \(reason)"
        case .inputShape(let expected, let actual, let hint):
            return "input has shape \(actual) but the model takes \(expected)\(hint.isEmpty ? "" : "; \(hint)")"
        case .missingTensor(let layer, let tensor):
            return "layer \(layer) needs tensor \(tensor), which the file does not hold"
        }
    }
}
