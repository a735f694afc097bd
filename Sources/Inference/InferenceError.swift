import Foundation
import FileIO
import VGGCore

/// Failures of the inference engine and its inputs.
public enum InferenceError: Error, CustomStringConvertible, Sendable, Remediable {
    case unsupported(layer: String, reason: String)
    case inputShape(expected: [Int], actual: [Int], hint: String)
    /// The input has the model's shape in the other channel order.
    case inputLayout(expected: [Int], actual: [Int], looksChannelsLast: Bool)
    case missingTensor(layer: String, tensor: String)
    /// The activations at this input size need more memory than the machine (or the process's limit) allows.
    case activationMemory(input: [Int], bytes: Int, budget: Int, fittingSide: Int?)

    public var description: String {
        switch self {
        case .unsupported(let layer, let reason):
            return "cannot run layer \(layer): \(reason)"
        case .inputShape(let expected, let actual, let hint):
            return "input has shape \(actual) but the model takes \(expected)\(hint.isEmpty ? "" : "; \(hint)")"
        case .inputLayout(let expected, let actual, let channelsLast):
            return "input has shape \(actual) but the model takes \(expected); it looks \(channelsLast ? "NHWC (channels last)" : "NCHW (channels first)")"
        case .missingTensor(let layer, let tensor):
            return "layer \(layer) needs tensor \(tensor), which the file does not hold"
        case .activationMemory(let input, let bytes, let budget, let side):
            let gib = { (value: Int) in String(format: "%.1f GiB", Double(value) / Double(1 << 30)) }
            return "an input of \(input.count == 3 ? "\(input[1])x\(input[2])" : "\(input)") needs \(gib(bytes)) of activations, more than the \(gib(budget)) this process may use (75% of the memory or of its ulimit)"
                + (side.map { "; use a smaller input (\($0)x\($0) or less)" } ?? "")
        }
    }

    /// An input too large for memory: the largest side that fits.
    public var remedy: Remedy? {
        switch self {
        case .activationMemory(_, _, _, let side?): return .smallerInput(side: side)
        case .inputLayout(_, _, let channelsLast): return .otherInputLayout(channelsLast: channelsLast)
        default: return nil
        }
    }
}
